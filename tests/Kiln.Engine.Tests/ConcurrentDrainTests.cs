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
    private const int Nodes = 2000;
    private const int ChaosWorkflows = 4;

    /// <summary>
    /// Eight workers over HTTP drain a 2,000-node random graph while everything else that
    /// locks work-request rows runs against the same rows: heartbeats listing leases in
    /// descending order, completions one by one and in report batches, cancels, retries of
    /// workflows whose jobs complete at the same moment, and re-prioritisation of waiting work.
    /// </summary>
    [Fact]
    public async Task Eight_workers_drain_a_2000_node_graph_amid_heartbeats_cancels_retries_and_priority_changes_without_deadlock()
    {
        var random = new Random(2026);
        var jobs = new Dictionary<string, JobDocument>();
        for (var i = 0; i < Nodes; i++)
        {
            var needs = i == 0 ? [] : Enumerable.Range(0, random.Next(0, 4)).Select(_ => $"n{random.Next(Math.Max(0, i - 200), i)}").Distinct().ToList();
            jobs[$"n{i}"] = new JobDocument { Run = "true", Needs = needs, Retry = new RetryPolicyDocument { BackoffSeconds = 0 } };
        }
        var deadlocksBefore = await DeadlocksAsync(endServerSessions: false);
        var workflowId = await SubmitAsync(new WorkflowDocument { Name = "drain", Jobs = jobs });
        // Workflows under cancel and retry fire: a chain whose "f" jobs fail their first attempt.
        var chaos = new List<long>();
        for (var w = 0; w < ChaosWorkflows; w++)
        {
            var chain = Enumerable.Range(0, 30).ToDictionary(i => (i % 3 == 0 ? "f" : "j") + i, i => new JobDocument
            {
                Run = "true",
                Needs = i < 3 ? [] : [(((i - 3) % 3 == 0) ? "f" : "j") + (i - 3)],
                Retry = new RetryPolicyDocument { BackoffSeconds = 0 },
            });
            chaos.Add(await SubmitAsync(new WorkflowDocument { Name = $"chaos-{w}", Jobs = chain }));
        }

        // A worker that claims work and dies without a word: its leases must expire and its work be redone.
        using (var doomed = await server.RegisterWorkerAsync("doomed"))
        {
            Assert.NotEmpty(await ClaimAsync(doomed, 4, 0));
        }

        var ledger = new ConcurrentDictionary<(long Id, int Attempt), int>();
        long clock = 0;
        var claimedAt = new ConcurrentDictionary<long, long>();
        var completionSentAt = new ConcurrentDictionary<long, long>();
        var workers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => server.RegisterWorkerAsync($"sim-{i}")));
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var allDone = false;

        async Task RunWorker(HttpClient client, bool batched)
        {
            while (!Volatile.Read(ref allDone))
            {
                stop.Token.ThrowIfCancellationRequested();
                var claimed = await ClaimAsync(client, 4, 1);
                if (claimed.Count == 0)
                {
                    continue;
                }
                var receivedAt = Interlocked.Increment(ref clock);
                foreach (var a in claimed)
                {
                    claimedAt[a.WorkRequestId] = receivedAt;
                    ledger.AddOrUpdate((a.WorkRequestId, a.Attempt), 1, (_, n) => n + 1);
                }
                // Leases listed highest id first: the server must lock them in ascending order anyway.
                var heartbeat = await client.PostAsJsonAsync("/api/v1/workers/heartbeat",
                    new HeartbeatRequest([.. claimed.OrderByDescending(a => a.WorkRequestId).Select(a => new LeaseRef(a.WorkRequestId, a.LeaseToken))]));
                Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
                var status = (await heartbeat.Content.ReadFromJsonAsync<HeartbeatResponse>())!.Leases.ToDictionary(l => l.WorkRequestId, l => l.Status);
                var reports = new List<WorkerReport>();
                foreach (var a in claimed)
                {
                    var result = status[a.WorkRequestId] == "cancel" ? "cancelled"
                        : a.Name.StartsWith('f') && a.Attempt == 1 ? "failed"
                        : "succeeded";
                    completionSentAt[a.WorkRequestId] = Interlocked.Increment(ref clock);
                    reports.Add(new WorkerReport(a.WorkRequestId, a.LeaseToken, result, result == "failed" ? 1 : 0, null));
                }
                if (batched)
                {
                    using var sent = await client.PostAsJsonAsync("/api/v1/work-requests/reports", new ReportBatchRequest(reports));
                    Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
                    var answers = (await sent.Content.ReadFromJsonAsync<ReportBatchResponse>())!.Results;
                    Assert.All(answers, r => Assert.True(r.Status is 200 or 409, $"report of {r.WorkRequestId}: {r.Status} {r.Problem}"));
                }
                else
                {
                    foreach (var r in reports)
                    {
                        using var done = await client.PostAsJsonAsync($"/api/v1/work-requests/{r.WorkRequestId}/complete",
                            new CompleteRequest(r.LeaseToken, r.Result, r.ExitCode, null));
                        Assert.True(done.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, $"complete {r.WorkRequestId}: {done.StatusCode}");
                    }
                }
            }
        }

        // Cancels, retries and re-prioritisation while the drain runs; then retries until every chaos workflow succeeded.
        async Task RunOperator()
        {
            var chaosJobs = new List<long>();
            foreach (var id in chaos)
            {
                chaosJobs.AddRange((await WorkflowAsync(id)).Jobs!.Select(j => j.Id));
            }
            var rounds = 0;
            while (true)
            {
                stop.Token.ThrowIfCancellationRequested();
                var drained = (await WorkflowAsync(workflowId)).State != WorkflowState.Running;
                var states = await Task.WhenAll(chaos.Select(async id => (await WorkflowAsync(id)).State));
                if (drained && rounds > 20 && states.All(s => s == WorkflowState.Succeeded))
                {
                    return;
                }
                rounds++;
                var target = chaos[rounds % chaos.Count];
                if (!drained && rounds % 3 == 0)
                {
                    (await server.Client.PostAsync($"/api/v1/work-requests/{chaosJobs[random.Next(chaosJobs.Count)]}/cancel", null)).Dispose();
                }
                (await server.Client.PostAsync($"/api/v1/workflows/{target}/retry", null)).Dispose();
                (await server.Client.PostAsync($"/api/v1/work-requests/{chaosJobs[random.Next(chaosJobs.Count)]}/retry", null)).Dispose();
                (await server.Client.PostAsJsonAsync($"/api/v1/workflows/{(rounds % 2 == 0 ? workflowId : target)}/priority", new PriorityChange(null, rounds % 2 == 0 ? 1 : -1))).Dispose();
                await Task.Delay(20);
            }
        }

        var operatorTask = Task.Run(RunOperator);
        var workerTasks = workers.Select((w, i) => Task.Run(() => RunWorker(w, batched: i % 2 == 1))).ToList();
        await operatorTask;
        Volatile.Write(ref allDone, true);
        await Task.WhenAll(workerTasks);

        var view = await WorkflowAsync(workflowId);
        Assert.Equal(WorkflowState.Succeeded, view.State);
        Assert.Equal(new WorkflowCounts(Nodes, 0, Nodes, 0, 0, 0), view.Counts);
        Assert.All(ledger, entry => Assert.Equal(1, entry.Value));
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        Assert.Equal(0L, await ScalarAsync(db, "SELECT count(*) FROM (SELECT work_request_id FROM attempts WHERE outcome = 'succeeded' GROUP BY 1 HAVING count(*) > 1) x"));
        Assert.True(await ScalarAsync(db, "SELECT count(*) FROM attempts WHERE outcome = 'lost'") >= 1, "the doomed worker's work was not requeued through lease expiry");
        // Every workflow's counters equal a recount of its work requests, and its state follows from them.
        Assert.Equal(0L, await ScalarAsync(db, """
            SELECT count(*) FROM workflows f
            JOIN (SELECT workflow_id,
                         count(*) FILTER (WHERE state IN ('blocked', 'pending', 'running')) AS unfinished,
                         count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
                         count(*) FILTER (WHERE state = 'failed') AS failed,
                         count(*) FILTER (WHERE state = 'skipped') AS skipped,
                         count(*) FILTER (WHERE state = 'cancelled') AS cancelled
                  FROM work_requests GROUP BY workflow_id) c ON c.workflow_id = f.id
            WHERE (f.unfinished, f.succeeded, f.failed, f.skipped, f.cancelled) IS DISTINCT FROM (c.unfinished, c.succeeded, c.failed, c.skipped, c.cancelled)
               OR f.state <> 'succeeded'
            """));
        // Every dependent of the drain was handed out only after its dependencies' completions were sent.
        var idOf = view.Jobs!.ToDictionary(j => j.Name, j => j.Id);
        foreach (var (name, job) in jobs)
        {
            foreach (var need in job.Needs!)
            {
                Assert.True(claimedAt[idOf[name]] > completionSentAt[idOf[need]], $"{name} was claimed before {need} completed");
            }
        }
        Assert.Equal(deadlocksBefore, await DeadlocksAsync(endServerSessions: true));
        foreach (var w in workers)
        {
            w.Dispose();
        }
    }

    private async Task<long> SubmitAsync(WorkflowDocument doc)
    {
        using var submitted = await server.Client.PostAsJsonAsync("/api/v1/workflows", doc);
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        return (await submitted.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
    }

    private static async Task<IReadOnlyList<Assignment>> ClaimAsync(HttpClient client, int slots, int wait)
    {
        using var response = await client.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(slots, wait));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments;
    }

    private async Task<WorkflowView> WorkflowAsync(long id) =>
        (await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{id}"))!;

    /// <summary>
    /// The deadlock counter as it stands. PostgreSQL 15 keeps a backend's statistics in that
    /// backend until it flushes them (at most once a second while busy, up to 10 s after it
    /// goes idle), so the server's pooled sessions, which detected any deadlock, are made to
    /// flush first: pg_stat_force_next_flush only affects the session that calls it, so those
    /// sessions are ended (a backend flushes at exit), then a fresh session reads. Before the
    /// test nothing has run in this class's fresh database, and the sessions are left alone.
    /// </summary>
    private async Task<long> DeadlocksAsync(bool endServerSessions)
    {
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        if (endServerSessions)
        {
            await using var ended = db.CreateCommand("""
                SELECT coalesce(array_agg(pid), '{}') FROM (
                    -- OFFSET 0: the filter runs before the terminate, so this session is spared
                    SELECT pid FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' OFFSET 0) s
                WHERE pg_terminate_backend(pid)
                """);
            var pids = (int[])(await ended.ExecuteScalarAsync())!;
            await using var left = db.CreateCommand("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(@pids)");
            left.Parameters.Add(new NpgsqlParameter<int[]>("pids", pids));
            while ((long)(await left.ExecuteScalarAsync())! > 0)
            {
                await Task.Delay(20);
            }
        }
        await using var conn = await db.OpenConnectionAsync();
        await using (var flush = new NpgsqlCommand("SELECT pg_stat_force_next_flush()", conn))
        {
            await flush.ExecuteNonQueryAsync();
        }
        await using var read = new NpgsqlCommand("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()", conn);
        return (long)(await read.ExecuteScalarAsync())!;
    }

    private static async Task<long> ScalarAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
