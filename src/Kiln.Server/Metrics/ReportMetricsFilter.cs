using System.Diagnostics;
using Kiln.Contracts;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kiln.Server.Metrics;

/// <summary>
/// Counts worker reports and times report requests from the answers the report endpoints already
/// give: nothing is asked of the database, and the cost is a timestamp and a few increments.
/// </summary>
public sealed class ReportMetricsFilter(KilnMetrics metrics) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var started = Stopwatch.GetTimestamp();
        var answer = await next(context);
        var path = context.HttpContext.Request.Path.Value ?? "";
        var endpoint = path[(path.LastIndexOf('/') + 1)..] switch
        {
            "complete" => "complete",
            "fail" => "fail",
            "release" => "release",
            "reports" => "reports",
            _ => "other",
        };
        metrics.ObserveReportRequest(endpoint, Stopwatch.GetElapsedTime(started));
        switch (answer)
        {
            case Ok<ReportResponse> { Value: { } single }:
                metrics.ObserveReport(single.Outcome, "ok");
                break;
            case Ok<ReportBatchResponse> { Value: { } batch }:
                foreach (var outcome in batch.Results)
                {
                    metrics.ObserveReport(outcome.Report?.Outcome ?? "unknown", Status(outcome.Status));
                }
                break;
            case IStatusCodeHttpResult { StatusCode: { } status }:
                metrics.ObserveReport(endpoint switch { "fail" => "error", "release" => "released", _ => "unknown" }, Status(status));
                break;
        }
        return answer;
    }

    private static string Status(int status) => status switch
    {
        StatusCodes.Status200OK => "ok",
        StatusCodes.Status404NotFound => "not-found",
        StatusCodes.Status409Conflict => "refused",
        _ => "invalid",
    };
}
