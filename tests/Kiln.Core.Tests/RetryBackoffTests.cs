namespace Kiln.Core.Tests;

public sealed class RetryBackoffTests
{
    private const double NoJitter = 0.5; // the middle of [0, 1): factor exactly 1.0

    [Fact]
    public void Delay_doubles_with_each_failed_attempt()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), RetryBackoff.Delay(1, 10, NoJitter));
        Assert.Equal(TimeSpan.FromSeconds(20), RetryBackoff.Delay(2, 10, NoJitter));
        Assert.Equal(TimeSpan.FromSeconds(40), RetryBackoff.Delay(3, 10, NoJitter));
        Assert.Equal(TimeSpan.FromSeconds(80), RetryBackoff.Delay(4, 10, NoJitter));
    }

    [Fact]
    public void Delay_is_capped_at_ten_minutes_before_jitter()
    {
        Assert.Equal(TimeSpan.FromMinutes(10), RetryBackoff.Cap);
        Assert.Equal(TimeSpan.FromSeconds(320), RetryBackoff.Delay(6, 10, NoJitter));
        Assert.Equal(TimeSpan.FromMinutes(10), RetryBackoff.Delay(7, 10, NoJitter));
        Assert.Equal(TimeSpan.FromMinutes(10), RetryBackoff.Delay(20, 3600, NoJitter));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(30)]
    [InlineData(int.MaxValue)]
    public void Capped_delay_stays_within_twenty_percent_of_ten_minutes_for_any_jitter(int attempt)
    {
        foreach (var jitter in new[] { 0.0, 0.25, 0.5, 0.75, 0.999999 })
        {
            var delay = RetryBackoff.Delay(attempt, 10, jitter);
            Assert.InRange(delay, TimeSpan.FromMinutes(8), TimeSpan.FromMinutes(12));
        }
        Assert.Equal(TimeSpan.FromMinutes(8), RetryBackoff.Delay(attempt, 10, 0));
    }

    [Fact]
    public void Jitter_spreads_the_delay_across_plus_or_minus_twenty_percent()
    {
        Assert.Equal(TimeSpan.FromSeconds(80), RetryBackoff.Delay(1, 100, 0));
        Assert.Equal(TimeSpan.FromSeconds(100), RetryBackoff.Delay(1, 100, 0.5));
        Assert.Equal(110, RetryBackoff.Delay(1, 100, 0.75).TotalSeconds, precision: 6);
        Assert.InRange(RetryBackoff.Delay(1, 100, 0.999999).TotalSeconds, 119.99, 120);
    }

    [Fact]
    public void Different_jitter_gives_different_delays_so_failures_do_not_retry_in_lockstep()
    {
        var delays = Enumerable.Range(0, 10).Select(i => RetryBackoff.Delay(3, 10, i / 10.0)).ToList();

        Assert.Equal(10, delays.Distinct().Count());
        Assert.All(delays, d => Assert.InRange(d.TotalSeconds, 32, 48));
    }

    [Theory]
    [InlineData(-5.0, 80)]
    [InlineData(7.0, 120)]
    public void Jitter_outside_zero_to_one_is_clamped_to_the_bounds(double jitter, double expectedSeconds)
    {
        Assert.Equal(expectedSeconds, RetryBackoff.Delay(1, 100, jitter).TotalSeconds, precision: 6);
    }

    [Fact]
    public void Zero_base_means_retry_immediately()
    {
        Assert.Equal(TimeSpan.Zero, RetryBackoff.Delay(5, 0, 0.9));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Attempt_below_one_is_rejected(int attempt)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RetryBackoff.Delay(attempt, 10, 0.5));
    }

    [Fact]
    public void Negative_base_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RetryBackoff.Delay(1, -1, 0.5));
    }
}
