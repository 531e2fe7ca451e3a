using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class CompletionBatchTests : EngineTest
{
    [Fact]
    public async Task A_batch_ends_every_attempt_once_releases_dependents_and_keeps_the_counters_right()
    {
        // Two workflows, so the batch crosses workflow rows; 'join' needs every root of the first.
        var first = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", []), ("c", []), ("join", ["a", "b", "c"])));
        var second = await E.SubmitAsync(EngineFixture.Doc(("x", []), ("y", [])));
        var worker = await E.WorkerAsync("w1");
        var claimed = await E.ClaimAsync(worker, 5);
        Assert.Equal(5, claimed.Count);

        var reports = claimed.Select(a => new SuccessReport(E.WorkerOf(a), a.WorkRequestId, a.LeaseToken, 0, null)).ToList();
        var results = await E.Reports.CompleteSucceededAsync(reports, default);

        Assert.All(results, r => Assert.Equal(ReportStatus.Recorded, r.Status));
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(first, "join"));
        Assert.Equal(new WorkflowCounts(4, 1, 3, 0, 0, 0), (await E.WorkflowAsync(first)).Counts);
        Assert.Equal(WorkflowState.Succeeded, (await E.WorkflowAsync(second)).State);
        await using var count = E.DataSource.CreateCommand("SELECT count(*) FROM attempts");
        Assert.Equal(5L, (long)(await count.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Stale_repeated_and_duplicate_reports_in_a_batch_get_their_own_answers()
    {
        await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", []), ("c", [])));
        var worker = await E.WorkerAsync("w1");
        var claimed = await E.ClaimAsync(worker, 3);
        await E.CompleteAsync(claimed[0]);                         // already recorded: a repeat
        var reports = new List<SuccessReport>
        {
            new(worker.Id, claimed[0].WorkRequestId, claimed[0].LeaseToken, 0, null),
            new(worker.Id, claimed[1].WorkRequestId, Guid.NewGuid(), 0, null),   // not this lease
            new(worker.Id, claimed[2].WorkRequestId, claimed[2].LeaseToken, 0, null),
            new(worker.Id, claimed[2].WorkRequestId, claimed[2].LeaseToken, 0, null), // the same report twice
            new(worker.Id, 999_999, Guid.NewGuid(), 0, null),
        };

        var results = await E.Reports.CompleteSucceededAsync(reports, default);

        Assert.Equal(
            [ReportStatus.Repeated, ReportStatus.LeaseNotHeld, ReportStatus.Recorded, ReportStatus.Repeated, ReportStatus.NotFound],
            results.Select(r => r.Status));
        Assert.Equal(WorkRequestState.Running, (await E.Queries.GetWorkRequestAsync(claimed[1].WorkRequestId, default))!.Summary.State);
    }

    [Fact]
    public async Task Concurrent_reports_through_the_batcher_each_get_their_answer_and_nothing_is_lost()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = Enumerable.Range(0, 200).ToDictionary(i => $"j{i}", _ => new JobDocument { Run = "true" }),
        });
        var worker = await E.WorkerAsync("w1");
        var claimed = new List<Assignment>();
        for (var got = await E.ClaimAsync(worker, 64); got.Count > 0; got = await E.ClaimAsync(worker, 64))
        {
            claimed.AddRange(got);
        }
        await using var batcher = new CompletionBatcher(E.Reports);

        var results = await Task.WhenAll(claimed.Select(a => Task.Run(() =>
            batcher.ReportAsync(E.WorkerOf(a), a.WorkRequestId, a.LeaseToken, AttemptEnd.Succeeded, 0, null, default))));

        Assert.All(results, r => Assert.Equal(ReportStatus.Recorded, r.Status));
        var view = await E.WorkflowAsync(wf);
        Assert.Equal((WorkflowState.Succeeded, new WorkflowCounts(200, 0, 200, 0, 0, 0)), (view.State, view.Counts));
    }
}
