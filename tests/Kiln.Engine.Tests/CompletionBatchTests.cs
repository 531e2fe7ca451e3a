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
    [Fact]
    public async Task A_report_the_database_refuses_inside_the_batch_statement_fails_alone_and_the_rest_of_its_batch_is_recorded()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = Enumerable.Range(0, 32).ToDictionary(i => $"j{i:D2}", _ => new JobDocument { Run = "true" }),
        });
        var worker = await E.WorkerAsync("w1");
        var claimed = await ClaimAllAsync(worker);
        var poisoned = claimed.OrderBy(a => a.WorkRequestId).ElementAt(16).WorkRequestId;
        // The test owns its database: a trigger makes exactly one row unstorable as succeeded,
        // the way a constraint would, so the set statement fails for real and rolls back.
        await using (var cmd = E.DataSource.CreateCommand($$"""
            CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'poisoned row %', NEW.id; END $$;
            CREATE TRIGGER poison BEFORE UPDATE ON work_requests FOR EACH ROW
                WHEN (NEW.id = {{poisoned}} AND NEW.state = 'succeeded') EXECUTE FUNCTION poison();
            """))
        {
            await cmd.ExecuteNonQueryAsync();
        }
        await using var batcher = new CompletionBatcher(E.Reports);

        // Queued in one loop, so the poisoned report shares its batch with others (a batch
        // boundary would have to fall right before and right after it for it to be alone).
        var ends = claimed.Select(a => batcher.ReportAsync(worker.Id, a.WorkRequestId, a.LeaseToken, AttemptEnd.Succeeded, 0, null, default)).ToList();
        await Task.WhenAll(ends.Select(t => t.ContinueWith(_ => 0, TaskScheduler.Default)));

        for (var i = 0; i < claimed.Count; i++)
        {
            if (claimed[i].WorkRequestId == poisoned)
            {
                Assert.Contains("poisoned row", (await Assert.ThrowsAsync<PostgresException>(() => ends[i])).MessageText);
            }
            else
            {
                Assert.Equal(ReportStatus.Recorded, (await ends[i]).Status);
            }
        }
        var view = await E.WorkflowAsync(wf);
        Assert.Equal((WorkflowState.Running, new WorkflowCounts(32, 1, 31, 0, 0, 0)), (view.State, view.Counts));
        Assert.Equal(WorkRequestState.Running, (await E.Queries.GetWorkRequestAsync(poisoned, default))!.Summary.State);
    }

    [Fact]
    public async Task A_batch_of_256_failure_reports_holds_at_most_one_database_connection_at_a_time()
    {
        await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = Enumerable.Range(0, 256).ToDictionary(i => $"j{i:D3}", _ => new JobDocument { Run = "false" }),
        });
        var worker = await E.WorkerAsync("w1");
        var claimed = await ClaimAllAsync(worker);
        Assert.Equal(256, claimed.Count);
        // A data source of its own, named, so its physical connections can be counted: the pool
        // opens one only when no idle one is free, and keeps it (idle lifetime 300 s), so the
        // number open afterwards is the most the batch held at once.
        var name = "kiln-report-bound";
        await using var source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(E.DataSource.ConnectionString) { ApplicationName = name }.ConnectionString);
        await using var batcher = new CompletionBatcher(new ReportStore(source, E.Time));

        var results = await batcher.ReportManyAsync(worker.Id,
            [.. claimed.Select(a => new AttemptReport(a.WorkRequestId, a.LeaseToken, AttemptEnd.Failed, 1, "exit 1"))], default);

        Assert.All(results, r => Assert.Equal(ReportStatus.Recorded, r.Status));
        await using var count = E.DataSource.CreateCommand($"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}'");
        Assert.Equal(1L, (long)(await count.ExecuteScalarAsync())!);
    }

    private async Task<List<Assignment>> ClaimAllAsync(WorkerIdentity worker)
    {
        var claimed = new List<Assignment>();
        for (var got = await E.ClaimAsync(worker, 64); got.Count > 0; got = await E.ClaimAsync(worker, 64))
        {
            claimed.AddRange(got);
        }
        return claimed;
    }
}
