using Kiln.Contracts;
using Kiln.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Api;

/// <summary>
/// The text of a request outside its body — every query parameter, every route value and the
/// headers Kiln reads — checked once for every endpoint, before any handler runs: single-line
/// <see cref="SafeText"/> and at most <see cref="MaxValueLength"/> characters. A refusal is a 400
/// problem naming the parameter or header, so <c>GET /api/v1/workflows?project=%00</c> never
/// reaches PostgreSQL (which refuses U+0000). Bodies are checked by <see cref="SafeStringConverter"/>.
/// </summary>
public static class EdgeTextValidation
{
    /// <summary>Longest query parameter, route value or header value Kiln reads (names are ≤ 100, tokens ≤ 512, artifact paths ≤ 1,024).</summary>
    public const int MaxValueLength = 2048;

    /// <summary>Headers whose values reach Kiln's code (the rest are Kestrel's or ignored).</summary>
    private static readonly string[] ReadHeaders = ["Authorization", "Idempotency-Key", LeaseHeaders.LeaseToken];

    public static IApplicationBuilder UseEdgeTextValidation(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (Check(context.Request) is { } problem)
        {
            await problem.ExecuteAsync(context);
            return;
        }
        await next(context);
    });

    private static IResult? Check(HttpRequest request)
    {
        foreach (var (key, values) in request.Query)
        {
            if (Problem(key) is { } keyProblem)
            {
                return ApiProblems.Invalid(Printable(key), $"the query parameter's name {keyProblem}");
            }
            foreach (var value in values)
            {
                if (value is not null && Problem(value) is { } valueProblem)
                {
                    return ApiProblems.Invalid(key, $"the query parameter {valueProblem}");
                }
            }
        }
        foreach (var (key, value) in request.RouteValues)
        {
            if (value is string text && Problem(text) is { } routeProblem)
            {
                return ApiProblems.Invalid(key, $"the path segment {routeProblem}");
            }
        }
        foreach (var header in ReadHeaders)
        {
            foreach (var value in request.Headers[header])
            {
                if (value is not null && Problem(value) is { } headerProblem)
                {
                    return ApiProblems.Invalid(header, $"the header {headerProblem}");
                }
            }
        }
        return null;
    }

    private static string? Problem(string value) => value.Length > MaxValueLength
        ? $"is longer than {MaxValueLength} characters"
        : SafeText.Problem(value, multiline: false);

    /// <summary>A bad parameter name is named by its safe part, so the answer itself carries no NUL.</summary>
    private static string Printable(string key) => new([.. key.Take(100).Select(c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c)]);
}
