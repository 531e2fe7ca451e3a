namespace Kiln.EndToEnd.Tests;

/// <summary>A bad rate limit is refused by <c>kiln server</c> in one line, before anything starts.</summary>
public sealed class RateLimitOptionTests
{
    [Fact]
    public async Task A_rate_limit_out_of_range_is_a_usage_error_naming_the_option()
    {
        var (exit, _, stderr) = await KilnProcess.RunSplitAsync(["server", "--rate-limit", "2000000", "--data-dir", Path.Combine(Path.GetTempPath(), $"kiln-rl-{Guid.NewGuid():N}")]);
        Assert.True(exit == 2, stderr);
        Assert.Contains("--rate-limit must be 0 (unlimited) to 1000000 requests a minute, not 2000000", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task A_rate_limit_variable_that_is_not_a_number_is_a_usage_error_naming_the_variable()
    {
        var (exit, _, stderr) = await KilnProcess.RunSplitAsync(
            ["server", "--data-dir", Path.Combine(Path.GetTempPath(), $"kiln-rl-{Guid.NewGuid():N}")],
            new Dictionary<string, string> { ["KILN_WORKER_RATE_LIMIT"] = "lots" });
        Assert.True(exit == 2, stderr);
        Assert.Contains("KILN_WORKER_RATE_LIMIT must be a whole number of requests a minute (0 = unlimited), not 'lots'", stderr, StringComparison.Ordinal);
    }
}
