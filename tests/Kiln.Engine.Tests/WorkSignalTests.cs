using Kiln.Store.Engine;

namespace Kiln.Engine.Tests;

public sealed class WorkSignalTests
{
    [Fact]
    public async Task One_new_row_wakes_one_waiting_claim_the_longest_waiting()
    {
        var signal = new WorkSignal();
        using var first = signal.Register();
        using var second = signal.Register();
        using var third = signal.Register();

        signal.Wake(1);

        Assert.True(await first.WaitAsync(TimeSpan.FromSeconds(5), TimeProvider.System, default));
        Assert.False(second.Woken);
        Assert.False(await third.WaitAsync(TimeSpan.FromMilliseconds(50), TimeProvider.System, default));
        signal.Wake(5);
        Assert.True(second.Woken);
    }

    [Fact]
    public void A_wake_between_looking_and_waiting_is_not_lost()
    {
        var signal = new WorkSignal();
        using var waiter = signal.Register();   // registered before looking for work
        signal.Wake(1);                          // work arrives while the claim runs
        Assert.True(waiter.Woken);
    }

    [Fact]
    public void A_claim_that_stopped_waiting_takes_no_wake_from_others()
    {
        var signal = new WorkSignal();
        var gone = signal.Register();
        gone.Dispose();
        using var waiting = signal.Register();
        signal.Wake(1);
        Assert.True(waiting.Woken);
    }
}
