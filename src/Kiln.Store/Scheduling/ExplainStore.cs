using Kiln.Contracts;
using Kiln.Core;
using Npgsql;

namespace Kiln.Store.Scheduling;

/// <summary>
/// "Why is my job waiting?" — answers for any work request from the same facts the claim
/// uses: dependencies, backoff, connected workers' capabilities, the project's cap, its
/// place in the project's queue and the fair order, and free slots. Read-only and off the
/// claim path; a few small queries per question.
/// </summary>
public sealed class ExplainStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>Workers seen within this window count as connected (they touch last_seen at least every 15 s while polling).</summary>
    public static readonly TimeSpan ConnectedWindow = TimeSpan.FromSeconds(90);

    private const string RequestSql = """
        SELECT w.name, w.state, w.queue, w.architecture, w.tags, w.not_before, w.claim_rank, w.project_id, p.name, p.weight, p.max_running,
               w.attempt, w.started_at, w.lease_expires_at, w.cancel_requested, k.name, w.finished_at,
               (SELECT message FROM attempts a WHERE a.work_request_id = w.id ORDER BY a.attempt DESC LIMIT 1),
               w.workflow_id, f.hold_state, f.concurrency_group, (SELECT tr.name FROM trigger_rules tr WHERE tr.id = f.rule_id)
        FROM work_requests w JOIN projects p ON p.id = w.project_id LEFT JOIN workers k ON k.id = w.worker_id
        JOIN workflows f ON f.id = w.workflow_id
        WHERE w.id = @id
        """;

    private const string UnfinishedDependenciesSql = """
        SELECT p.id, p.name, p.state FROM dependencies d JOIN work_requests p ON p.id = d.depends_on_id
        WHERE d.work_request_id = @id AND p.state <> 'succeeded' ORDER BY p.id
        """;

    private const string WorkersSql = """
        SELECT k.name, k.architectures, k.tags, k.queues, k.slots,
               (SELECT count(*) FROM work_requests w WHERE w.worker_id = k.id AND w.state = 'running')::int
        FROM workers k WHERE k.last_seen_at >= @since AND k.disabled_at IS NULL AND k.removed_at IS NULL
        """;

    /// <summary>Same project, same queue, ranked higher: what the claim would serve before it.</summary>
    private const string AheadInProjectSql = """
        SELECT count(*) FROM work_requests
        WHERE state = 'pending' AND project_id = @project AND queue = @queue AND (claim_rank > @rank OR (claim_rank = @rank AND id < @id))
        """;

    private const string ProjectsAheadSql = """
        WITH running AS (
            SELECT project_id, count(*) AS n FROM work_requests WHERE state = 'running' AND queue = @queue GROUP BY project_id
        )
        SELECT coalesce(r.n, 0)::int, count(*) FILTER (
                   WHERE p.id <> @project
                     AND coalesce(r2.n, 0)::float8 / p.weight < coalesce(r.n, 0)::float8 / @weight
                     AND EXISTS (SELECT 1 FROM work_requests w WHERE w.state = 'pending' AND w.project_id = p.id AND w.queue = @queue))::int,
               (SELECT count(*) FROM work_requests WHERE state = 'running' AND project_id = @project)::int
        FROM projects p LEFT JOIN running r2 ON r2.project_id = p.id
        LEFT JOIN running r ON r.project_id = @project
        GROUP BY r.n
        """;

    public async Task<ExplainView?> ExplainAsync(long id, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        Request? r = null;
        await using (var cmd = new NpgsqlCommand(RequestSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (await reader.ReadAsync(ct))
            {
                r = new Request(id, reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                    reader.GetFieldValue<string[]>(4), reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                    reader.IsDBNull(6) ? null : reader.GetDouble(6), reader.GetInt64(7), reader.GetString(8), reader.GetInt32(9),
                    reader.IsDBNull(10) ? null : reader.GetInt32(10), reader.GetInt32(11),
                    reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTimeOffset>(12), reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13),
                    reader.GetBoolean(14), reader.IsDBNull(15) ? null : reader.GetString(15),
                    reader.IsDBNull(16) ? null : reader.GetFieldValue<DateTimeOffset>(16), reader.IsDBNull(17) ? null : reader.GetString(17))
                {
                    Hold = new Hold(reader.GetInt64(18), reader.IsDBNull(19) ? null : reader.GetString(19),
                        reader.IsDBNull(20) ? null : reader.GetString(20), reader.IsDBNull(21) ? null : reader.GetString(21)),
                };
            }
        }
        if (r is null)
        {
            return null;
        }
        var reasons = r.State switch
        {
            WorkRequestState.Blocked when r.Hold.State is not null => await HeldAsync(conn, r, ct),
            WorkRequestState.Blocked => await BlockedAsync(conn, r, ct),
            WorkRequestState.Pending => await PendingAsync(conn, r, now, ct),
            WorkRequestState.Running => Running(r),
            WorkRequestState.Skipped => await SkippedAsync(conn, r, ct),
            _ => [new ExplainReason("finished", $"it finished as {r.State}{(r.FinishedAt is { } f ? $" at {f:u}" : "")}" +
                (r.State == WorkRequestState.Failed && r.LastMessage is { } m ? $": {m}" : ""))],
        };
        return new ExplainView(id, r.Name, r.State, reasons[0].Message, reasons);
    }

    private static async Task<List<ExplainReason>> BlockedAsync(NpgsqlConnection conn, Request r, CancellationToken ct)
    {
        var deps = await UnfinishedDependenciesAsync(conn, r.Id, ct);
        var shown = string.Join(", ", deps.Take(5).Select(d => $"'{d.Name}' ({d.State})"));
        return [new ExplainReason("waiting-for-dependencies",
            $"it waits for {deps.Count} dependenc{(deps.Count == 1 ? "y" : "ies")} to succeed: {shown}{(deps.Count > 5 ? ", …" : "")}")];
    }

    /// <summary>The running workflow of the group (if any): what a queued workflow waits for.</summary>
    private const string GroupRunningSql = """
        SELECT id FROM workflows
        WHERE project_id = @project AND concurrency_group = @group AND state = 'running' ORDER BY id LIMIT 1
        """;

    /// <summary>
    /// A held or queued workflow's work waits for its release, whatever else it waits for: that is
    /// said first, with what to do; the dependencies (for a job below the roots) after.
    /// </summary>
    private static async Task<List<ExplainReason>> HeldAsync(NpgsqlConnection conn, Request r, CancellationToken ct)
    {
        var workflow = r.Hold.WorkflowId;
        ExplainReason first;
        if (r.Hold.State == WorkflowState.Held)
        {
            var rule = r.Hold.Rule is { } name ? $"rule '{name}' made more workflows than its burst limit allows, so" : "the storm guard held it, and";
            first = new("held", $"its workflow {workflow} is held: {rule} nothing of it runs until an owner of project '{r.Project}' approves it " +
                $"(kiln held approve {workflow}) or discards it (kiln held discard {workflow})" +
                (r.Hold.Group is { } g ? $"; once approved it is queued in concurrency group '{g}'" : ""));
        }
        else
        {
            long? running;
            await using (var cmd = new NpgsqlCommand(GroupRunningSql, conn))
            {
                cmd.Parameters.Add(new NpgsqlParameter<long>("project", r.ProjectId));
                cmd.Parameters.Add(new NpgsqlParameter<string>("group", r.Hold.Group ?? ""));
                running = await cmd.ExecuteScalarAsync(ct) as long?;
            }
            first = new("queued", $"its workflow {workflow} is queued in concurrency group '{r.Hold.Group}': " + (running is { } id
                ? $"it starts when workflow {id}, the group's running one, ends (or is cancelled: kiln cancel {id}); a newer workflow of the group would supersede it"
                : "the group is free, so it is released at the concurrency duty's next pass (within seconds)"));
        }
        var deps = await UnfinishedDependenciesAsync(conn, r.Id, ct);
        return deps.Count == 0 ? [first] : [first, .. await BlockedAsync(conn, r, ct)];
    }

    private static async Task<List<ExplainReason>> SkippedAsync(NpgsqlConnection conn, Request r, CancellationToken ct)
    {
        var deps = await UnfinishedDependenciesAsync(conn, r.Id, ct);
        var culprit = deps.FirstOrDefault(d => d.State is WorkRequestState.Failed or WorkRequestState.Cancelled or WorkRequestState.Skipped);
        return [new ExplainReason("dependency-failed", culprit is null
            ? "it was skipped because a dependency did not succeed"
            : $"it was skipped because its dependency '{culprit.Name}' is {culprit.State}; retry that one (kiln retry wr:{culprit.Id}) or the workflow")];
    }

    private static List<ExplainReason> Running(Request r) =>
    [
        new("running", $"it is running on worker '{r.WorkerName}' (attempt {r.Attempt}) since {r.StartedAt:u}; lease until {r.LeaseExpiresAt:u}"
            + (r.CancelRequested ? "; cancellation was requested and reaches the worker at its next heartbeat" : "")),
    ];

    /// <summary>
    /// A pending job's reasons, most specific first. The facts are gathered first and the
    /// sentences written from all of them, so they cannot contradict each other: free slots
    /// promise a start "within seconds" only when nothing holds the job back and nothing is
    /// claimed before it.
    /// </summary>
    private async Task<List<ExplainReason>> PendingAsync(NpgsqlConnection conn, Request r, DateTimeOffset now, CancellationToken ct)
    {
        var reasons = new List<(int Order, ExplainReason Reason)>();
        var backoff = r.NotBefore is { } notBefore && notBefore > now;
        if (backoff)
        {
            reasons.Add((0, new("retry-backoff", $"attempt {r.Attempt} failed ({r.LastMessage ?? "no message"}); it is retried after {r.NotBefore:u}")));
        }

        var workers = new List<(string Name, string[] Architectures, string[] Tags, string[] Queues, int Slots, int Running)>();
        await using (var cmd = new NpgsqlCommand(WorkersSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("since", now - ConnectedWindow));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                workers.Add((reader.GetString(0), reader.GetFieldValue<string[]>(1), reader.GetFieldValue<string[]>(2),
                    reader.GetFieldValue<string[]>(3), reader.GetInt32(4), reader.GetInt32(5)));
            }
        }
        var inQueue = workers.Where(w => w.Queues.Contains(r.Queue)).ToList();
        var withArch = inQueue.Where(w => r.Architecture is null || w.Architectures.Contains(r.Architecture)).ToList();
        var matching = withArch.Where(w => r.Tags.All(w.Tags.Contains)).ToList();
        if (workers.Count == 0)
        {
            reasons.Add((1, new("no-workers", "no worker is connected to the farm; start one with 'kiln worker'")));
        }
        else if (inQueue.Count == 0)
        {
            reasons.Add((1, new("no-worker-for-queue", $"no connected worker serves queue '{r.Queue}'; start one with 'kiln worker --queue {r.Queue}'")));
        }
        else if (withArch.Count == 0)
        {
            var offered = string.Join(", ", inQueue.SelectMany(w => w.Architectures).Distinct().Order());
            reasons.Add((1, new("no-worker-for-architecture", $"no connected worker in queue '{r.Queue}' builds for architecture {r.Architecture} (connected ones offer: {offered})")));
        }
        else if (matching.Count == 0)
        {
            var missing = r.Tags.Where(t => !withArch.Any(w => w.Tags.Contains(t))).ToList();
            reasons.Add((1, new("no-worker-for-tags", missing.Count > 0
                ? $"no connected worker offers tag{(missing.Count == 1 ? "" : "s")} {string.Join(", ", missing)}"
                : $"no single connected worker offers all of the tags {string.Join(", ", r.Tags)}")));
        }

        var atCap = false;
        var projectsAhead = 0;
        await using (var cmd = new NpgsqlCommand(ProjectsAheadSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("queue", r.Queue));
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", r.ProjectId));
            cmd.Parameters.Add(new NpgsqlParameter<int>("weight", r.Weight));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (await reader.ReadAsync(ct))
            {
                var running = reader.GetInt32(0);
                projectsAhead = reader.GetInt32(1);
                var runningEverywhere = reader.GetInt32(2);
                if (r.MaxRunning is { } cap && runningEverywhere >= cap)
                {
                    atCap = true;
                    reasons.Add((2, new("project-at-cap", $"project '{r.Project}' is at its cap of {cap} running work request{(cap == 1 ? "" : "s")}; it starts when one of them finishes")));
                }
                reasons.Add((projectsAhead > 0 ? 4 : 6, new("fair-share", $"project '{r.Project}' has {running} running in queue '{r.Queue}' (weight {r.Weight}); " +
                    (projectsAhead == 0 ? "it is first in the fair order" : $"{projectsAhead} other project(s) with waiting work are further below their share and are served first"))));
            }
        }
        long ahead;
        await using (var cmd = new NpgsqlCommand(AheadInProjectSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", r.ProjectId));
            cmd.Parameters.Add(new NpgsqlParameter<string>("queue", r.Queue));
            cmd.Parameters.Add(new NpgsqlParameter<double>("rank", r.ClaimRank ?? double.MaxValue));
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", r.Id));
            ahead = (long)(await cmd.ExecuteScalarAsync(ct))!;
            reasons.Add((ahead > 0 ? 4 : 6, new("position", ahead == 0
                ? $"it is next in project '{r.Project}''s part of queue '{r.Queue}'"
                : $"{ahead} work request(s) of project '{r.Project}' are ahead of it in queue '{r.Queue}'")));
        }
        if (matching.Count > 0)
        {
            var slots = matching.Sum(w => w.Slots);
            var free = slots - matching.Sum(w => Math.Min(w.Running, w.Slots));
            string message;
            var order = 5;
            if (free <= 0)
            {
                message = $"all {slots} slot(s) of the {matching.Count} matching worker(s) are busy";
                order = 3;
            }
            else if (backoff || atCap)
            {
                message = $"{free} of {slots} matching slot(s) are free, but it may not start yet: {(backoff ? "it waits for its retry time" : "its project is at its cap")}";
            }
            else if (projectsAhead > 0 || ahead >= free)
            {
                var before = string.Join(" and ", new[] { ahead > 0 ? $"the {ahead} work request(s) ahead of it" : null, projectsAhead > 0 ? "other projects' waiting work" : null }.OfType<string>());
                message = $"{free} of {slots} matching slot(s) are free, but {before} will take them first";
            }
            else
            {
                message = $"{free} of {slots} matching slot(s) are free{(ahead > 0 ? $" and only {ahead} work request(s) are claimed before it" : "")}; it should start within seconds";
                order = 7;
            }
            reasons.Add((order, new("slots", message)));
        }
        // Most specific first: a missing worker or a cap explains more than a queue position.
        return [.. reasons.OrderBy(x => x.Order).Select(x => x.Reason)];
    }

    private static async Task<List<Dependency>> UnfinishedDependenciesAsync(NpgsqlConnection conn, long id, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(UnfinishedDependenciesSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        var deps = new List<Dependency>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            deps.Add(new Dependency(reader.GetInt64(0), reader.GetString(1), reader.GetString(2)));
        }
        return deps;
    }

    private sealed record Dependency(long Id, string Name, string State);

    private sealed record Request(
        long Id, string Name, string State, string Queue, string? Architecture, string[] Tags, DateTimeOffset? NotBefore, double? ClaimRank,
        long ProjectId, string Project, int Weight, int? MaxRunning, int Attempt, DateTimeOffset? StartedAt, DateTimeOffset? LeaseExpiresAt,
        bool CancelRequested, string? WorkerName, DateTimeOffset? FinishedAt, string? LastMessage)
    {
        public Hold Hold { get; init; } = new(0, null, null, null);
    }

    /// <summary>The work request's workflow: its hold (held, queued or none), group and rule.</summary>
    private sealed record Hold(long WorkflowId, string? State, string? Group, string? Rule);
}
