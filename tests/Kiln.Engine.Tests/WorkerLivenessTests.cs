using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;

namespace Kiln.Engine.Tests;

/// <summary>
/// A dead worker is noticed by its silence, not by each lease running out: within 30 s of its
/// last heartbeat its work is requeued, claimable at once by another worker (no backoff for a
/// vanished machine), while a worker that keeps heartbeating keeps its work.
/// </summary>
public sealed class WorkerLivenessTests : EngineTest
{
    [Fact]
    public async Task Work_of_a_worker_silent_past_the_bound_is_requeued_before_its_lease_ends_and_claimable_at_once()
    {
        var id = await E.SubmitAsync(EngineFixture.Doc(("a", [])));
        var dead = await E.WorkerAsync("dead");
        var alive = await E.WorkerAsync("alive");
        var a = await E.ClaimOneAsync(dead);

        // The fixture's lease is 30 s: at 26 s of silence it has not run out.
        E.Time.Advance(LeaseReaper.WorkerSilence + TimeSpan.FromSeconds(1));
        Assert.True(a.LeaseExpiresAt > E.Time.GetUtcNow());
        Assert.Equal(1, await E.Reaper.ReapExpiredAsync(100, default));

        Assert.Equal("pending", await E.StateOfAsync(id, "a"));
        var view = (await E.Queries.GetWorkRequestAsync(a.WorkRequestId, default))!;
        Assert.Equal("lost", Assert.Single(view.Attempts).Outcome);
        Assert.Null(view.NotBefore);
        var next = await E.ClaimOneAsync(alive);
        Assert.Equal(a.WorkRequestId, next.WorkRequestId);
        // The silent worker's late heartbeat learns it lost the work.
        var status = await E.Claims.HeartbeatAsync(dead.Id, [new LeaseRef(a.WorkRequestId, a.LeaseToken)], EngineFixture.Lease, default);
        Assert.Equal("lost", status.Single().Status);
    }

    [Fact]
    public async Task A_worker_that_keeps_heartbeating_keeps_its_work_past_the_silence_bound()
    {
        await E.SubmitAsync(EngineFixture.Doc(("a", [])));
        var worker = await E.WorkerAsync("steady");
        var a = await E.ClaimOneAsync(worker);
        var lease = new LeaseRef(a.WorkRequestId, a.LeaseToken);

        for (var i = 0; i < 6; i++)
        {
            E.Time.Advance(TimeSpan.FromSeconds(10));
            Assert.Equal("ok", (await E.Claims.HeartbeatAsync(worker.Id, [lease], EngineFixture.Lease, default)).Single().Status);
            Assert.Equal(0, await E.Reaper.ReapExpiredAsync(100, default));
        }
        Assert.Equal(ReportStatus.Recorded, (await E.Reports.ReportAsync(worker.Id, a.WorkRequestId, a.LeaseToken, AttemptEnd.Succeeded, 0, null, default)).Status);
    }
}
