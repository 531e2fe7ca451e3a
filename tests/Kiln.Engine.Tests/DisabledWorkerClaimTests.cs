using Kiln.Store.Engine;

namespace Kiln.Engine.Tests;

/// <summary>
/// Another replica may trust a disabled worker's secret for up to the authentication cache's
/// lifetime: the claim itself refuses such a worker, and work it still holds (claimed while
/// the disable committed) is handed back by the reaper without charging an attempt.
/// </summary>
public sealed class DisabledWorkerClaimTests : EngineTest
{
    [Fact]
    public async Task A_disabled_worker_with_a_still_trusted_identity_claims_nothing_and_the_reaper_hands_back_what_it_holds_uncharged()
    {
        await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", [])));
        var worker = await E.WorkerAsync("cached-elsewhere");
        var held = await E.ClaimOneAsync(worker);

        // Disabled without its work handed back: as if the disable had committed on another replica just after this claim.
        Assert.NotNull(await E.Workers.DisableAsync("cached-elsewhere", default));

        // The identity is what a replica's cache would still hold: its claim gets nothing, though b is pending.
        Assert.Empty(await E.Claims.ClaimAsync(worker, 4, EngineFixture.Lease, default));
        Assert.Equal(1, await E.Reaper.ReapExpiredAsync(100, default));
        var view = (await E.Queries.GetWorkRequestAsync(held.WorkRequestId, default))!;
        Assert.Equal("pending", view.Summary.State);
        Assert.Null(view.NotBefore);
        Assert.Equal("released", Assert.Single(view.Attempts).Outcome);
        // Another worker takes it at once.
        var other = await E.WorkerAsync("healthy");
        Assert.Equal(2, (await E.ClaimAsync(other, 4)).Count);
    }
}
