using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Server.Api;

/// <summary>
/// Last line of defence. A transient database problem (connection lost, failover, pool
/// exhausted) is a 503 with Retry-After: the client retries, nothing was half-written because
/// every write is one transaction. Anything else is a bug, logged with its stack.
/// </summary>
public sealed partial class ApiExceptionHandler(ILogger<ApiExceptionHandler> logger, IProblemDetailsService problems) : IExceptionHandler
{
    /// <summary>ASP.NET Core's binding messages: <c>Failed to bind parameter "long? workflow" from "abc".</c></summary>
    [GeneratedRegex("""parameter "(?:[^"]* )?([A-Za-z0-9_]+)" """)]
    private static partial Regex ParameterName();

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is BadHttpRequestException bad)
        {
            // A parameter that does not bind (?workflow=abc, ?limit=1e99) names itself, as a validation error would.
            httpContext.Response.StatusCode = bad.StatusCode;
            var problem = new ProblemDetails { Title = bad.StatusCode == 400 ? "The request is invalid" : "Bad request", Detail = bad.Message, Status = bad.StatusCode };
            if (ParameterName().Match(bad.Message) is { Success: true } match)
            {
                var field = match.Groups[1].Value;
                problem.Detail = $"{field}: has the wrong type of value or is missing";
                problem.Extensions["errors"] = new[] { new { field, message = "has the wrong type of value or is missing" } };
            }
            return await problems.TryWriteAsync(new() { HttpContext = httpContext, ProblemDetails = problem });
        }
        if (exception is NpgsqlException { IsTransient: true } or TimeoutException)
        {
            LogTransient(logger, exception.Message);
            httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            httpContext.Response.Headers.RetryAfter = "2";
            return await problems.TryWriteAsync(new()
            {
                HttpContext = httpContext,
                ProblemDetails = { Title = "The database is unavailable", Detail = "a transient database error occurred; retry shortly", Status = 503 },
            });
        }
        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            return true;
        }
        LogUnhandled(logger, exception, httpContext.Request.Path);
        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Transient database error: {Reason}")]
    private static partial void LogTransient(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error serving {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string path);
}
