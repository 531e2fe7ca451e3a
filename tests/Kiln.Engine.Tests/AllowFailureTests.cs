using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary><c>allow-failure</c>: the failure is shown, the workflow does not fail and dependents run.</summary>
public sealed class AllowFailureTests : EngineTest
{
    private static WorkflowDocument Lintian(bool allowFailure) => new()
    {
        Jobs = new()
        {
            ["build"] = new() { Run = "make" },
            ["lintian"] = new() { Run = "lintian", Needs = ["build"], AllowFailure = allowFailure, Retry = new() { MaxAttempts = 1 } },
            ["publish"] = new() { Run = "publish", Needs = ["lintian"] },
        },
    };

    [Fact]
    public async Task A_failure_allowed_to_fail_releases_its_dependents_and_the_workflow_succeeds()
    {
        var wf = await E.SubmitAsync(Lintian(allowFailure: true));
        var worker = await E.WorkerAsync("w1");
        await E.CompleteAsync(await E.ClaimOneAsync(worker));

        var lintian = await E.ClaimOneAsync(worker);
        var result = await E.CompleteAsync(lintian, AttemptEnd.Failed, 2);
        Assert.Equal(WorkRequestState.Failed, result.Response!.State);
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "publish"));

        await E.CompleteAsync(await E.ClaimOneAsync(worker));
        var done = await E.WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Succeeded, done.State);
        Assert.Equal(new WorkflowCounts(3, 0, 2, 1, 0, 0, AllowedFailures: 1), done.Counts);
        Assert.Equal(WorkRequestState.Failed, await E.StateOfAsync(wf, "lintian"));
    }

    [Fact]
    public async Task Without_allow_failure_the_same_failure_skips_dependents_and_fails_the_workflow()
    {
        var wf = await E.SubmitAsync(Lintian(allowFailure: false));
        var worker = await E.WorkerAsync("w1");
        await E.CompleteAsync(await E.ClaimOneAsync(worker));
        await E.CompleteAsync(await E.ClaimOneAsync(worker), AttemptEnd.Failed, 2);

        var done = await E.WorkflowAsync(wf);
        Assert.Equal(WorkRequestState.Skipped, await E.StateOfAsync(wf, "publish"));
        Assert.Equal(WorkflowState.Failed, done.State);
        Assert.Equal(0, done.Counts.AllowedFailures);
    }

    [Fact]
    public async Task A_retry_recounts_allowed_failures_so_the_workflow_state_stays_true()
    {
        var wf = await E.SubmitAsync(Lintian(allowFailure: true));
        var worker = await E.WorkerAsync("w1");
        await E.CompleteAsync(await E.ClaimOneAsync(worker));
        await E.CompleteAsync(await E.ClaimOneAsync(worker), AttemptEnd.Failed, 2);
        await E.CompleteAsync(await E.ClaimOneAsync(worker));
        Assert.Equal(WorkflowState.Succeeded, (await E.WorkflowAsync(wf)).State);

        await E.Actions.RetryWorkflowAsync(wf, default);
        var retried = await E.WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Running, retried.State);
        Assert.Equal(0, retried.Counts.AllowedFailures);
        await E.CompleteAsync(await E.ClaimOneAsync(worker), AttemptEnd.Failed, 2);
        var again = await E.WorkflowAsync(wf);
        Assert.Equal(new WorkflowCounts(3, 0, 2, 1, 0, 0, AllowedFailures: 1), again.Counts);
        Assert.Equal(WorkflowState.Succeeded, again.State);
        Assert.Equal(1, again.Counts.AllowedFailures);
    }

    [Fact]
    public async Task Both_submission_paths_store_the_flag()
    {
        var many = new JobDocument { Run = "true", AllowFailure = true, Matrix = new() { ["n"] = [.. Enumerable.Range(0, SubmissionStore.SmallWorkflowMax + 1).Select(i => $"n{i}")] } };
        await E.SubmitAsync(Lintian(allowFailure: true));
        await E.SubmitAsync(new WorkflowDocument { Jobs = new() { ["many"] = many, ["strict"] = new() { Run = "true" } } });

        await using var cmd = E.DataSource.CreateCommand("SELECT name FROM work_requests WHERE allow_failure AND name NOT LIKE 'many[%' UNION ALL SELECT count(*)::text FROM work_requests WHERE allow_failure AND name LIKE 'many[%'");
        var names = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }
        Assert.Equal(["lintian", $"{SubmissionStore.SmallWorkflowMax + 1}"], names);
    }
}
