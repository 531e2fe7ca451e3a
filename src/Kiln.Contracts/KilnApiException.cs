using System.Net;

namespace Kiln.Contracts;

/// <summary>
/// The server refused a request; <see cref="Exception.Message"/> is the problem's detail, fit to show a user as one line.
/// </summary>
public sealed class KilnApiException : Exception
{
    public KilnApiException(HttpStatusCode status, string title, string detail, IReadOnlyList<FieldError> errors)
        : base(detail.Length > 0 ? detail : title)
    {
        Status = status;
        Title = title;
        Errors = errors;
    }

    public KilnApiException() : this(HttpStatusCode.InternalServerError, "error", "", []) { }

    public KilnApiException(string message) : this(HttpStatusCode.InternalServerError, "error", message, []) { }

    public KilnApiException(string message, Exception inner) : base(message, inner)
    {
        Title = "error";
        Errors = [];
    }

    /// <summary>HTTP status of the refusal.</summary>
    public HttpStatusCode Status { get; }

    /// <summary>Problem title (e.g. "Lease expired").</summary>
    public string Title { get; }

    /// <summary>Validation errors by field, when the problem carried them.</summary>
    public IReadOnlyList<FieldError> Errors { get; }

    /// <summary>
    /// How long the server asked the client to wait before trying again (its <c>Retry-After</c>,
    /// e.g. on a 429 from the rate limits), when it said; at most <see cref="MaxRetryAfter"/>.
    /// </summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>The longest <see cref="RetryAfter"/> a client honours, whatever a server or proxy says.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMinutes(5);

    /// <summary>Worth retrying: the server or something in front of it had a passing problem.</summary>
    public bool IsTransient => (int)Status >= 500 || Status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
}

/// <summary>One validation problem: <see cref="Field"/> is a path such as <c>jobs.build.needs[0]</c>.</summary>
public sealed record FieldError(string Field, string Message);
