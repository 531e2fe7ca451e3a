using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class ConcurrentDrainTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Eight_workers_over_http_drain_a_2000_node_random_graph_each_attempt_running_once()
    {
        const int nodes = 2000;
        var random = new Random(2026);
        var jobs = new Dictionary<string, JobDocument>();
        for (var i = 0; i < nodes; i++)
        {
            var needs = i == 0 ? [] : Enumerable.Range(0, random.Next(0, 4)).Select(_ => $"n{random.Next(Math.Max(0, i - 200), i)}").Distinct().ToList();
            jobs[$"n{i}"] = new JobDocument { Run = "true", Needs = needs, Retry = new RetryPolicyDocument { BackoffSeconds = 0 } };
        }
        var deadlocksBefore = await DeadlocksAsync();
        var submitted = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument { Name = "drain", Jobs = jobs });
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        var workflowId = (await submitted.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;

        // A worker that claims work and dies without a word: its leases must expire and its work be redone.
        using (var doomed = await server.RegisterWorkerAsync("doomed"))
        {
            var taken = await ClaimAsync(doomed, 4, 0);
            Assert.NotEmpty(taken);
        }

        var ledger = new ConcurrentDictionary<(long Id, int Attempt), int>();
        long clock = 0;
        var claimedAt = new ConcurrentDictionary<long, long>();
        var completionSentAt = new ConcurrentDictionary<long, long>();
        var workers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => server.RegisterWorkerAsync($"sim-{i}")));
        var finished = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        async Task RunWorker(HttpClient client)
        {
            while (!finished.IsCancellationRequested)
            {
                var claimed = await ClaimAsync(client, 4, 1);
                var receivedAt = Interlocked.Increment(ref clock);
                foreach (var a in claimed)
                {
                    claimedAt[a.WorkRequestId] = receivedAt;
                    ledger.AddOrUpdate((a.WorkRequestId, a.Attempt), 1, (_, n) => n + 1);
                    completionSentAt[a.WorkRequestId] = Interlocked.Increment(ref clock);
                    using var done = await client.PostAsJsonAsync($"/api/v1/work-requests/{a.WorkRequestId}/complete",
                        new CompleteRequest(a.LeaseToken, "succeeded", 0, null));
                    Assert.Equal(HttpStatusCode.OK, done.StatusCode);
                }
                if (claimed.Count == 0 && (await WorkflowAsync(workflowId)).State != WorkflowState.Running)
                {
                    return;
                }
            }
        }
        await Task.WhenAll(workers.Select(w => Task.Run(() => RunWorker(w))));

        var view = await WorkflowAsync(workflowId);
        Assert.Equal(WorkflowState.Succeeded, view.State);
        Assert.Equal(new WorkflowCounts(nodes, 0, nodes, 0, 0, 0), view.Counts);
        Assert.All(ledger, entry => Assert.Equal(1, entry.Value));
        Assert.Equal(nodes, ledger.Keys.Select(k => k.Id).Distinct().Count());
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        Assert.Equal((long)nodes, await ScalarAsync(db, "SELECT count(*) FROM attempts WHERE outcome = 'succeeded'"));
        Assert.Equal(0L, await ScalarAsync(db, "SELECT count(*) FROM (SELECT work_request_id FROM attempts WHERE outcome = 'succeeded' GROUP BY 1 HAVING count(*) > 1) x"));
        Assert.True(await ScalarAsync(db, "SELECT count(*) FROM attempts WHERE outcome = 'lost'") >= 1, "the doomed worker's work was not requeued through lease expiry");
        Assert.Equal(deadlocksBefore, await DeadlocksAsync());
        await using (var dbg = db.CreateCommand("""
            SELECT d.work_request_id, d.depends_on_id, child.started_at, parent.started_at, parent.finished_at, child.worker_id, parent.worker_id, child.attempt, parent.attempt FROM dependencies d
            JOIN attempts child ON child.work_request_id = d.work_request_id AND child.outcome = 'succeeded'
            JOIN attempts parent ON parent.work_request_id = d.depends_on_id AND parent.outcome = 'succeeded'
            WHERE child.started_at < parent.finished_at
            """))
        await using (var r = await dbg.ExecuteReaderAsync())
        {
            while (await r.ReadAsync()) { Console.WriteLine($"DBG {r[0]} {r[1]} {r.GetFieldValue<DateTimeOffset>(2):O} {r.GetFieldValue<DateTimeOffset>(3):O} {r.GetFieldValue<DateTimeOffset>(4):O} {r[5]} {r[6]} {r[7]} {r[8]}"); }
        }
        // Every dependent was handed out only after its dependencies' completions were sent.
        var idOf = view.Jobs!.ToDictionary(j => j.Name, j => j.Id);
        foreach (var (name, job) in jobs)
        {
            foreach (var need in job.Needs!)
            {
                Assert.True(claimedAt[idOf[name]] > completionSentAt[idOf[need]], $"{name} was claimed before {need} completed");
            }
        }
        Assert.Equal(deadlocksBefore, await DeadlocksAsync());
        foreach (var w in workers)
        {
            w.Dispose();
        }
    }

    private static async Task<IReadOnlyList<Assignment>> ClaimAsync(HttpClient client, int slots, int wait)
    {
        using var response = await client.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(slots, wait));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments;
    }

    private async Task<WorkflowView> WorkflowAsync(long id) =>
        (await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{id}"))!;

    private async Task<long> DeadlocksAsync()
    {
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        return await ScalarAsync(db, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
    }

    private static async Task<long> ScalarAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
