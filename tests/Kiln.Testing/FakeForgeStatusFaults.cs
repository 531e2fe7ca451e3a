using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Kiln.Testing;

/// <summary>One status write that reached the fake forge: when it arrived, its path, and the code answered (0: no answer, the caller gave up).</summary>
public sealed record FakeStatusAttempt(DateTimeOffset At, string Path, int Code);

/// <summary>
/// The fake forge's misbehaviour on status writes, settable from any thread while the server writes:
/// <see cref="Latency"/> before every answer, GitHub's secondary rate limit (403 with retry-after) until
/// <see cref="SecondaryLimitUntil"/>, the next n writes answered with a 5xx (<see cref="FailNext"/>),
/// <see cref="Hang"/> (no answer until the caller gives up), a repository refused (401/404). Every
/// attempt is logged in <see cref="Attempts"/> with the code answered, accepted writes included.
/// </summary>
public sealed class FakeForgeStatusFaults
{
    private readonly Lock _gate = new();
    private readonly List<FakeStatusAttempt> _attempts = [];
    private readonly Dictionary<string, int> _refused = new(StringComparer.OrdinalIgnoreCase);
    private TimeSpan _latency;
    private DateTimeOffset? _secondaryLimitUntil;
    private int _failCount;
    private int _failCode = 502;
    private bool _hang;

    /// <summary>Every status write is answered after this long.</summary>
    public TimeSpan Latency { get { lock (_gate) { return _latency; } } set { lock (_gate) { _latency = value; } } }

    /// <summary>Until then every status write is answered 403 "You have exceeded a secondary rate limit" with retry-after: the remaining seconds rounded up.</summary>
    public DateTimeOffset? SecondaryLimitUntil { get { lock (_gate) { return _secondaryLimitUntil; } } set { lock (_gate) { _secondaryLimitUntil = value; } } }

    /// <summary>While true, a status write is held without an answer until the caller gives up.</summary>
    public bool Hang { get { lock (_gate) { return _hang; } } set { lock (_gate) { _hang = value; } } }

    /// <summary>Every status write that reached the forge, in order of arrival, with the code answered.</summary>
    public IReadOnlyList<FakeStatusAttempt> Attempts { get { lock (_gate) { return [.. _attempts.OrderBy(a => a.At)]; } } }

    /// <summary>The next <paramref name="n"/> status writes are answered <paramref name="code"/>.</summary>
    public void FailNext(int n, int code = 502)
    {
        lock (_gate)
        {
            _failCount = n;
            _failCode = code;
        }
    }

    /// <summary>Status writes to this repository (owner/name, or GitLab's path) are answered <paramref name="code"/> (401, 403, 404).</summary>
    public void RefuseRepository(string fullName, int code)
    {
        lock (_gate)
        {
            _refused[fullName] = code;
        }
    }

    /// <summary>
    /// Applies the configured faults to one status write; true when it answered the request itself (the
    /// write is then not accepted). Otherwise the code the route answers is logged when its response starts.
    /// <paramref name="repository"/> is the repository written to (derived from a /repos/O/R/ path when null).
    /// </summary>
    internal async Task<bool> ApplyAsync(HttpContext http, string? repository = null)
    {
        var at = TimeProvider.System.GetUtcNow();
        var path = http.Request.Path.Value ?? "";
        repository ??= RepositoryOf(path);
        var latency = Latency;
        if (latency > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(latency, http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                Record(at, path, 0);
                return true;
            }
        }
        if (Hang)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The caller gave up.
            }
            Record(at, path, 0);
            return true;
        }
        int? refused;
        int? fail = null;
        TimeSpan? limited = null;
        var now = TimeProvider.System.GetUtcNow();
        lock (_gate)
        {
            refused = repository is not null && _refused.TryGetValue(repository, out var r) ? r : null;
            if (refused is null && _secondaryLimitUntil is { } until && until > now)
            {
                limited = until - now;
            }
            else if (refused is null && _failCount > 0)
            {
                _failCount--;
                fail = _failCode;
            }
        }
        if (refused is { } code)
        {
            Record(at, path, code);
            await AnswerAsync(http, code, code == 401 ? "Bad credentials" : code == 403 ? "Resource not accessible by integration" : "Not Found");
            return true;
        }
        if (limited is { } left)
        {
            Record(at, path, 403);
            http.Response.Headers["retry-after"] = ((long)Math.Ceiling(left.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            await AnswerAsync(http, 403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.");
            return true;
        }
        if (fail is { } failed)
        {
            Record(at, path, failed);
            await AnswerAsync(http, failed, "Server Error");
            return true;
        }
        http.Response.OnStarting(() =>
        {
            Record(at, path, http.Response.StatusCode);
            return Task.CompletedTask;
        });
        return false;
    }

    private void Record(DateTimeOffset at, string path, int code)
    {
        lock (_gate)
        {
            _attempts.Add(new FakeStatusAttempt(at, path, code));
        }
    }

    private static string? RepositoryOf(string path)
    {
        var s = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
        return s switch
        {
            ["repos", var owner, var name, ..] => $"{owner}/{name}",
            ["api", "v1", "repos", var owner, var name, ..] => $"{owner}/{name}",
            ["api", "v4", "projects", .. var rest] when rest.Length >= 2 && rest[^2] == "statuses" => string.Join('/', rest[..^2]),
            _ => null,
        };
    }

    private static async Task AnswerAsync(HttpContext http, int code, string message)
    {
        http.Response.StatusCode = code;
        http.Response.ContentType = "application/json; charset=utf-8";
        await http.Response.WriteAsync(new JsonObject { ["message"] = message }.ToJsonString());
    }
}
