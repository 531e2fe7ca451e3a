using System.Globalization;
using System.Net;
using Kiln.Store.Outbox;

namespace Kiln.Server.Outbox.Forges;

/// <summary>
/// Reads a forge's answer to a status write the way GitHub documents its limits (GitLab and Forgejo
/// use the same headers where they send them): rate limits are obeyed, not discovered.
/// <list type="bullet">
/// <item>2xx: acknowledged. If <c>x-ratelimit-remaining</c> says 0, the channel pauses until <c>x-ratelimit-reset</c>.</item>
/// <item>429, or 403 with <c>retry-after</c>, with <c>x-ratelimit-remaining: 0</c> or saying "rate limit": the channel (that installation only) pauses for <c>retry-after</c>, else until the reset, else one minute.</item>
/// <item>408 and 5xx: retried with backoff.</item>
/// <item>Any other 4xx (bad token, no access, repository gone, invalid): failed, recorded and shown, not retried.</item>
/// </list>
/// </summary>
public static class ForgeAnswers
{
    /// <summary>A secondary-limit answer without retry-after or reset: GitHub asks to wait at least a minute.</summary>
    public static readonly TimeSpan DefaultPause = TimeSpan.FromMinutes(1);

    /// <summary>The longest pause a forge's headers can impose (a bogus reset far in the future does not stop a channel for days).</summary>
    public static readonly TimeSpan MaxPause = TimeSpan.FromHours(1);

    /// <summary>How much of an answer's body is kept.</summary>
    public const int MaxAnswerChars = 1000;

    public static SendAnswer Classify(HttpResponseMessage response, string body, DateTimeOffset now)
    {
        var code = (int)response.StatusCode;
        var remaining = Header(response, "x-ratelimit-remaining") is { } r && int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out var left) ? left : (int?)null;
        var reset = Header(response, "x-ratelimit-reset") is { } s && long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
            ? DateTimeOffset.FromUnixTimeSeconds(epoch) : (DateTimeOffset?)null;
        var retryAfter = RetryAfter(response, now);
        var text = $"{code} {Reason(response)}{(body.Length > 0 ? ": " + body : "")}";
        text = text.Length > MaxAnswerChars ? text[..MaxAnswerChars] : text;

        if (code is >= 200 and < 300)
        {
            var pause = remaining == 0 && reset is { } until && until > now ? Clamp(until - now + TimeSpan.FromSeconds(1)) : (TimeSpan?)null;
            return new SendAnswer(SendOutcome.Acknowledged, code, text, PauseFor: pause,
                PauseReason: pause is null ? null : $"primary rate limit used up until {reset:u}", RateRemaining: remaining, RateResetAt: reset);
        }
        var limited = code == 429 || (code == 403 && (retryAfter is not null || remaining == 0 || body.Contains("rate limit", StringComparison.OrdinalIgnoreCase)));
        if (limited)
        {
            var pause = retryAfter ?? (reset is { } until && until > now ? until - now + TimeSpan.FromSeconds(1) : DefaultPause);
            return new SendAnswer(SendOutcome.Paused, code, text, PauseFor: Clamp(pause),
                PauseReason: $"{(remaining == 0 ? "primary" : "secondary")} rate limit ({code}); no write until it runs out", RateRemaining: remaining, RateResetAt: reset);
        }
        if (code is 408 or >= 500)
        {
            return new SendAnswer(SendOutcome.Retry, code, text, RateRemaining: remaining, RateResetAt: reset);
        }
        return new SendAnswer(SendOutcome.Failed, code, text, RateRemaining: remaining, RateResetAt: reset);
    }

    /// <summary>retry-after as seconds or as an HTTP date.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        if (response.Headers.RetryAfter is not { } value)
        {
            return null;
        }
        if (value.Delta is { } delta)
        {
            return delta;
        }
        return value.Date is { } date ? (date > now ? date - now : TimeSpan.Zero) : null;
    }

    /// <summary>Reads at most <see cref="MaxAnswerChars"/> characters of the answer's body.</summary>
    public static async Task<string> BodyAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[MaxAnswerChars * 4];
        var read = 0;
        int n;
        while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), ct)) > 0)
        {
            read += n;
        }
        var text = System.Text.Encoding.UTF8.GetString(buffer, 0, read).ReplaceLineEndings(" ");
        return text.Length > MaxAnswerChars ? text[..MaxAnswerChars] : text;
    }

    private static TimeSpan Clamp(TimeSpan pause) => pause < TimeSpan.Zero ? TimeSpan.Zero : pause > MaxPause ? MaxPause : pause;

    private static string Reason(HttpResponseMessage response) =>
        response.ReasonPhrase ?? (Enum.IsDefined(response.StatusCode) ? response.StatusCode.ToString() : ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
