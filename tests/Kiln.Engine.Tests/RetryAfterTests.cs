using System.Net;
using Kiln.Contracts;
using Kiln.Worker;
using Microsoft.Extensions.Time.Testing;

namespace Kiln.Engine.Tests;

/// <summary>The worker's retries wait at least as long as the server asked (Retry-After on a 429).</summary>
public sealed class RetryAfterTests
{
    [Fact]
    public async Task A_worker_retry_waits_at_least_as_long_as_the_server_asked()
    {
        var time = new FakeTimeProvider();
        var waits = new List<TimeSpan>();
        var retry = new RetryPolicy(time, (_, _, wait) => waits.Add(wait));
        var calls = 0;

        var answer = retry.UntilAcknowledgedAsync("report", _ => ++calls == 1
            ? throw new KilnApiException(HttpStatusCode.TooManyRequests, "Too many requests", "rate limit reached", []) { RetryAfter = TimeSpan.FromSeconds(20) }
            : Task.FromResult("acknowledged"), CancellationToken.None);
        while (!answer.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5);
        }

        Assert.Equal("acknowledged", await answer);
        Assert.Equal(2, calls);
        Assert.True(Assert.Single(waits) >= TimeSpan.FromSeconds(20), $"waited {waits[0]} instead of the 20 s asked");
    }

    [Fact]
    public async Task Rate_limit_refusals_do_not_use_up_the_patience_for_server_errors()
    {
        var time = new FakeTimeProvider();
        var retry = new RetryPolicy(time, (_, _, _) => { });
        var calls = 0;

        // 429s for longer than the patience, then success: the report is not given up.
        var answer = retry.UntilAcknowledgedAsync("log", _ => ++calls <= 5
            ? throw new KilnApiException(HttpStatusCode.TooManyRequests, "Too many requests", "rate limit reached", []) { RetryAfter = TimeSpan.FromSeconds(10) }
            : Task.FromResult(true), CancellationToken.None, serverErrorPatience: TimeSpan.FromSeconds(15));
        while (!answer.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5);
        }

        Assert.True(await answer);
        Assert.Equal(6, calls);
    }
}
