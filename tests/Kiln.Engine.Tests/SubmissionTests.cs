using Kiln.Contracts;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class SubmissionTests : EngineTest
{
    [Fact]
    public async Task Fifty_concurrent_submitters_with_one_idempotency_key_create_exactly_one_workflow()
    {
        var doc = EngineFixture.Doc(("a", []), ("b", ["a"])) with { Project = "debian", IdempotencyKey = "push-1234" };
        var (plan, _) = E.Planner.Plan(doc);
        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(() => E.Submissions.SubmitAsync(plan!, "{}", default))));

        Assert.Single(results, r => r.Created);
        Assert.Single(results.Select(r => r.WorkflowId).Distinct());
        Assert.Equal(1L, await ScalarAsync("SELECT count(*) FROM workflows"));
        Assert.Equal(2L, await ScalarAsync("SELECT count(*) FROM work_requests"));
        Assert.Equal(1L, await ScalarAsync("SELECT count(*) FROM projects"));
    }

    [Fact]
    public async Task The_same_key_in_another_project_is_another_workflow()
    {
        var doc = EngineFixture.Doc(("a", [])) with { IdempotencyKey = "k" };
        var one = await E.SubmitAsync(doc with { Project = "one" });
        var two = await E.SubmitAsync(doc with { Project = "two" });
        Assert.NotEqual(one, two);
    }

    [Fact]
    public async Task A_large_graph_is_stored_whole_with_parents_before_children()
    {
        var jobs = new Dictionary<string, JobDocument>();
        var random = new Random(7);
        for (var i = 0; i < 3000; i++)
        {
            var needs = i == 0 ? [] : Enumerable.Range(0, 3).Select(_ => $"j{random.Next(i)}").Distinct().ToList();
            jobs[$"j{i}"] = new JobDocument { Run = "true", Needs = needs };
        }
        var wf = await E.SubmitAsync(new WorkflowDocument { Jobs = jobs });
        var view = await E.WorkflowAsync(wf);
        Assert.Equal(3000, view.Counts.Total);
        Assert.Equal(0L, await ScalarAsync("SELECT count(*) FROM dependencies d WHERE d.depends_on_id >= d.work_request_id"));
        Assert.Equal((long)jobs.Values.Sum(j => j.Needs!.Count), await ScalarAsync("SELECT count(*) FROM dependencies"));
        Assert.Equal(0L, await ScalarAsync(
            "SELECT count(*) FROM work_requests w WHERE unmet_deps <> (SELECT count(*) FROM dependencies d WHERE d.work_request_id = w.id)"));
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var cmd = E.DataSource.CreateCommand(sql);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
