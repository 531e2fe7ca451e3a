using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;

namespace Kiln.Engine.Tests;

/// <summary>A workflow's <c>timeout</c>: past it, the leader's duty cancels its unfinished work once.</summary>
public sealed class WorkflowTimeoutTests : EngineTest
{
    [Fact]
    public async Task Past_its_timeout_a_workflows_waiting_work_is_cancelled_and_running_work_told_to_stop()
    {
        var timeouts = new WorkflowTimeouts(E.DataSource, E.Actions, E.Time);
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Timeout = 600,
            Jobs = new() { ["build"] = new() { Run = "make" }, ["test"] = new() { Run = "make check", Needs = ["build"] } },
        });
        var untimed = await E.SubmitAsync(EngineFixture.Doc(("other", [])));
        E.Time.Advance(TimeSpan.FromSeconds(599));
        Assert.Equal(0, await timeouts.CancelExpiredAsync(50, default));
        var worker = await E.WorkerAsync("w1", queues: ["builds"]);
        var build = Assert.Single(await E.ClaimAsync(worker), a => a.Name == "build");

        E.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await timeouts.CancelExpiredAsync(50, default));
        Assert.Equal(WorkRequestState.Cancelled, await E.StateOfAsync(wf, "test"));
        var heartbeat = await E.Claims.HeartbeatAsync(worker.Id, [new LeaseRef(build.WorkRequestId, build.LeaseToken)], EngineFixture.Lease, default);
        Assert.Equal("cancel", Assert.Single(heartbeat).Status);

        // Acted on once: the running job stopping later does not make it cancel again.
        Assert.Equal(0, await timeouts.CancelExpiredAsync(50, default));
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(untimed, "other"));
    }
}
