using Kiln.Core;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Api;

/// <summary>
/// RFC 9457 problem details for every refusal. Validation problems carry <c>errors</c>, a list
/// of <c>{field, message}</c>, so a client can point at the exact line of a workflow file.
/// </summary>
public static class ApiProblems
{
    public static IResult Invalid(string field, string message) => Invalid([new ValidationError(field, message)]);

    public static IResult Invalid(IReadOnlyList<ValidationError> errors) => TypedResults.Problem(
        title: "The request is invalid",
        detail: errors.Count == 1 ? Describe(errors[0]) : $"{errors.Count} problems: {string.Join("; ", errors.Take(5).Select(Describe))}",
        statusCode: StatusCodes.Status400BadRequest,
        extensions: new Dictionary<string, object?> { ["errors"] = errors.Select(e => new { field = e.Field, message = e.Message }).ToList() });

    public static IResult TooLarge(int maxBytes) => Status(
        StatusCodes.Status413PayloadTooLarge, "The request body is too large", $"the limit is {maxBytes} bytes");

    public static IResult NotFound(string detail) => Status(StatusCodes.Status404NotFound, "Not found", detail);

    public static IResult Conflict(string detail) => Status(StatusCodes.Status409Conflict, "Conflict", detail);

    /// <summary>A 409 about one field of the request, with <c>errors</c> as for a validation problem.</summary>
    public static IResult Conflict(string field, string message) => TypedResults.Problem(
        title: "Conflict",
        detail: Describe(new ValidationError(field, message)),
        statusCode: StatusCodes.Status409Conflict,
        extensions: new Dictionary<string, object?> { ["errors"] = new[] { new { field, message } } });

    public static IResult Unauthorized(string detail) => Status(StatusCodes.Status401Unauthorized, "Unauthorized", detail);

    /// <summary>
    /// A 429: which budget (<paramref name="limit"/>: token, anonymous or worker) is used up, its size
    /// and when to retry (also sent as <c>Retry-After</c>).
    /// </summary>
    public static IResult RateLimited(string limit, string detail, int perMinute, int retryAfterSeconds) => TypedResults.Problem(
        title: "Too many requests",
        detail: detail,
        statusCode: StatusCodes.Status429TooManyRequests,
        extensions: new Dictionary<string, object?> { ["limit"] = limit, ["perMinute"] = perMinute, ["retryAfterSeconds"] = retryAfterSeconds });

    public static IResult Status(int status, string title, string detail) =>
        TypedResults.Problem(title: title, detail: detail, statusCode: status);

    private static string Describe(ValidationError e) => e.Field.Length == 0 ? e.Message : $"{e.Field}: {e.Message}";
}
