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

    [Fact]
    public async Task Small_and_large_workflows_are_stored_alike_by_their_two_paths()
    {
        // The same rich jobs in a workflow stored by one statement and in one big enough for COPY.
        var rich = new Dictionary<string, JobDocument>
        {
            ["src"] = new() { Run = "echo 'it''s \"quoted\"'", Outputs = ["dist/*.dsc", "with space/*"], Env = new() { ["A"] = "1", ["B"] = "x y" }, Priority = 5 },
            ["build"] = new()
            {
                Run = "make", Needs = ["src"], Matrix = new() { ["arch"] = ["amd64", "arm64"] },
                Requires = new() { Architecture = "${{ matrix.arch }}", Tags = ["kvm", "large-disk"], Queue = "builds" },
                Timeout = 600, Retry = new() { MaxAttempts = 4, OnFailure = true, BackoffSeconds = 20 },
            },
            ["publish"] = new() { Run = "publish", Needs = ["build"], Requires = new() { Queue = "publish" } },
        };
        var large = new Dictionary<string, JobDocument>(rich);
        for (var i = 0; i < Kiln.Store.Engine.SubmissionStore.SmallWorkflowMax; i++)
        {
            large[$"filler{i}"] = new() { Run = "true", Needs = i % 2 == 0 ? ["src"] : [] };
        }
        var small = await E.SubmitAsync(new WorkflowDocument { Project = "alike", Trigger = "push", Jobs = rich });
        var big = await E.SubmitAsync(new WorkflowDocument { Project = "alike", Trigger = "push", Jobs = large });

        const string Columns = """
            w.name, w.state, w.queue, coalesce(w.architecture, '-'), array_to_string(w.tags, ','), w.priority, w.claim_rank IS NULL, w.run, w.env::text,
            array_to_string(w.outputs, '|'), w.timeout_seconds, w.max_attempts, w.retry_on_failure, w.backoff_seconds, w.unmet_deps, w.project_id,
            (SELECT string_agg(p.name, ',' ORDER BY p.name) FROM dependencies d JOIN work_requests p ON p.id = d.depends_on_id WHERE d.work_request_id = w.id),
            (SELECT bool_and(d.depends_on_id < w.id) FROM dependencies d WHERE d.work_request_id = w.id)
            """;
        var fromSmall = await RowsAsync($"SELECT {Columns} FROM work_requests w WHERE workflow_id = {small} ORDER BY w.name");
        var fromLarge = await RowsAsync($"SELECT {Columns} FROM work_requests w WHERE workflow_id = {big} AND w.name NOT LIKE 'filler%' ORDER BY w.name");
        Assert.Equal(4, fromSmall.Count);
        Assert.Equal(fromLarge, fromSmall);
        Assert.Contains(fromSmall, r => r.Contains("kvm,large-disk", StringComparison.Ordinal) && r.Contains("arm64", StringComparison.Ordinal));
        Assert.Equal(1L, await ScalarAsync($"SELECT count(*) FROM workflows WHERE id = {small} AND total = 4 AND unfinished = 4 AND trigger = 'push'"));
        Assert.Equal(Kiln.Store.Engine.SubmissionStore.SmallWorkflowMax + 4L, await ScalarAsync($"SELECT count(*) FROM work_requests WHERE workflow_id = {big}"));
    }

    private async Task<List<string>> RowsAsync(string sql)
    {
        await using var cmd = E.DataSource.CreateCommand(sql);
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join(" | ", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "null" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }
        return rows;
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var cmd = E.DataSource.CreateCommand(sql);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
