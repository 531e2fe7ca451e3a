using System.Globalization;

namespace Kiln.Bench;

/// <summary>
/// The stored history of a farm for the <c>lists</c> bench, written with generate_series in
/// one statement batch (seconds at 1M rows), and the filters measured against it.
/// <para>
/// 80% of the rows are workflows of 10 requests: project <c>ci</c> half of them (all
/// finished: it has no pending row, the empty match of two common values), <c>kernel</c>
/// a tenth (queue <c>kvm</c> only), 400 small projects <c>p0</c>…<c>p399</c> the rest, and one
/// rare project <c>late</c> (one workflow in 4,000, spread over the whole id range, every one
/// still queued: pending, running, blocked). The newest 1% of the other workflows are queued
/// too; older ones finished — 1 in 25 failed (a failed and a skipped request each), 1 in 211
/// outside ci cancelled, the rest succeeded. The last 20% are four mass rebuilds of project
/// <c>mass</c>, each one workflow of N/20 requests (50,000 at 1M, the submission limit): two
/// finished (1 in 97 failed), two queued (70% pending, 0.1% running, the rest blocked).
/// Queues: <c>publish</c> for 1 request in 10,007 (rare), <c>kvm</c> for kernel, <c>tests</c>
/// for every fourth other request, <c>builds</c> otherwise; <c>quiet</c> is a project with no rows.
/// </para>
/// </summary>
public sealed class ListsData(int total)
{
    public int Total { get; } = total;

    /// <summary>Rows in mass rebuild workflows: one twentieth of the table each.</summary>
    public int MassSize => Total / 20;

    /// <summary>Workflows of 10 requests (ids 1 … Small), then the four mass rebuilds.</summary>
    public int Small => (Total - 4 * MassSize) / 10;

    public int Workflows => Small + 4;

    /// <summary>The first of the two queued mass rebuilds.</summary>
    public long QueuedMass => Small + 3;

    public long QueuedMassFirstRow => (long)Small * 10 + 2L * MassSize + 1;

    /// <summary>A ci workflow of 10 finished requests (ids 101 … 110).</summary>
    public const long CiWorkflow = 11;

    /// <summary>The first workflow of project late (ids 39,991 … 40,000).</summary>
    public const long LateWorkflow = 4000;

    /// <summary>
    /// Foreign-key triggers are off for the load (rows are consistent by construction) and the
    /// indexes that back no constraint are dropped and rebuilt from their own definitions
    /// afterwards (as ListPlanTests does): a sorted build instead of a million inserts into each.
    /// Running rows get a lease a month long and no worker, so the reaper leaves them alone.
    /// </summary>
    public string GenerateSql()
    {
        var p = (string s) => s
            .Replace("{N}", Total.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{WA}", Small.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{M}", MassSize.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        return p("""
            SET session_replication_role = replica;
            SET maintenance_work_mem = '256MB';
            CREATE TEMP TABLE saved_indexes AS
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.tablename IN ('work_requests', 'workflows')
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname);
            DO $$ DECLARE r record; BEGIN
                FOR r IN SELECT indexname FROM saved_indexes LOOP EXECUTE format('DROP INDEX %I', r.indexname); END LOOP;
            END $$;
            INSERT INTO projects (id, name, created_at) OVERRIDING SYSTEM VALUE
            VALUES (1, 'ci', now()), (2, 'late', now()), (3, 'quiet', now()), (4, 'kernel', now()), (5, 'mass', now());
            INSERT INTO projects (id, name, created_at) OVERRIDING SYSTEM VALUE
            SELECT 100 + k, 'p' || k, now() FROM generate_series(0, 399) k;

            CREATE TEMP TABLE shape AS
            SELECT w, pr, pr = 2 OR (pr <> 1 AND w > {WA} - {WA} / 100) AS active
            FROM generate_series(1, {WA}) w,
                 LATERAL (SELECT CASE WHEN w % 4000 = 0 THEN 2 WHEN w % 10 BETWEEN 1 AND 5 THEN 1
                                      WHEN w % 10 = 6 THEN 4 ELSE 100 + (w / 10) % 400 END AS pr) x;
            INSERT INTO workflows (id, project_id, name, state, total, unfinished, document, created_at, finished_at) OVERRIDING SYSTEM VALUE
            SELECT w, pr, 'w' || w,
                   CASE WHEN active THEN 'running' WHEN w % 25 = 0 THEN 'failed'
                        WHEN w % 211 = 0 AND pr <> 1 THEN 'cancelled' ELSE 'succeeded' END,
                   10, CASE WHEN active THEN 10 ELSE 0 END, '{}',
                   now() - ({N} - w * 10) * interval '1 second',
                   CASE WHEN active THEN NULL ELSE now() - ({N} - w * 10) * interval '1 second' + interval '5 minutes' END
            FROM shape;
            INSERT INTO workflows (id, project_id, name, state, total, unfinished, document, created_at, finished_at) OVERRIDING SYSTEM VALUE
            SELECT {WA} + k, 5, 'mass-rebuild-' || k, CASE WHEN k <= 2 THEN 'failed' ELSE 'running' END,
                   {M}, CASE WHEN k <= 2 THEN 0 ELSE {M} END, '{}', now() - interval '1 hour',
                   CASE WHEN k <= 2 THEN now() ELSE NULL END
            FROM generate_series(1, 4) k;

            INSERT INTO work_requests (id, workflow_id, project_id, name, state, queue, tags, priority, claim_rank, run, env, outputs,
                                       timeout_seconds, max_attempts, retry_on_failure, backoff_seconds, unmet_deps, attempt,
                                       lease_token, lease_expires_at, created_at, started_at, finished_at)
            SELECT g, w, pr, 'j' || g, st,
                   CASE WHEN g % 10007 = 0 THEN 'publish' WHEN pr = 4 THEN 'kvm' WHEN pr <> 5 AND g % 4 = 0 THEN 'tests' ELSE 'builds' END,
                   '{}', 0, CASE WHEN st = 'pending' THEN -g END, 'true', '{}', '{}', 3600, 3, false, 10,
                   CASE WHEN st = 'blocked' THEN 1 ELSE 0 END,
                   CASE WHEN st IN ('pending', 'blocked') THEN 0 ELSE 1 END,
                   CASE WHEN st = 'running' THEN gen_random_uuid() END,
                   CASE WHEN st = 'running' THEN now() + interval '30 days' END,
                   created, CASE WHEN st NOT IN ('pending', 'blocked') THEN created END,
                   CASE WHEN st NOT IN ('pending', 'blocked', 'running') THEN created + interval '5 minutes' END
            FROM (
                SELECT g, s.w, s.pr, now() - ({N} - g) * interval '1 second' AS created,
                       CASE WHEN s.active THEN CASE WHEN g % 10 < 5 THEN 'pending' WHEN g % 10 < 7 THEN 'running' ELSE 'blocked' END
                            WHEN s.w % 25 = 0 THEN CASE g % 10 WHEN 1 THEN 'failed' WHEN 2 THEN 'skipped' ELSE 'succeeded' END
                            WHEN s.w % 211 = 0 AND s.pr <> 1 THEN CASE WHEN g % 10 >= 5 THEN 'cancelled' ELSE 'succeeded' END
                            ELSE 'succeeded' END AS st
                FROM generate_series(1, {WA} * 10) g JOIN shape s ON s.w = (g - 1) / 10 + 1
                UNION ALL
                SELECT g, m.w, 5, now() - interval '1 hour',
                       CASE WHEN m.w <= {WA} + 2 THEN CASE WHEN g % 97 = 0 THEN 'failed' ELSE 'succeeded' END
                            WHEN g % 1000 = 9 THEN 'running' WHEN g % 10 < 7 THEN 'pending' ELSE 'blocked' END
                FROM generate_series({WA} * 10 + 1, {N}) g,
                     LATERAL (SELECT {WA} + 1 + (g - {WA} * 10 - 1) / {M} AS w) m
            ) r;
            DO $$ DECLARE r record; BEGIN
                FOR r IN SELECT indexdef FROM saved_indexes LOOP EXECUTE r.indexdef; END LOOP;
            END $$;
            SET session_replication_role = DEFAULT;
            SELECT setval(pg_get_serial_sequence('work_requests', 'id'), {N});
            SELECT setval(pg_get_serial_sequence('workflows', 'id'), {WA} + 4);
            SELECT setval(pg_get_serial_sequence('projects', 'id'), 500);
            """);
    }

    /// <summary>One measured list: a label, its query string, and the <c>after</c> of its deep page.</summary>
    public sealed record Case(string List, string Query, long DeepAfter);

    /// <summary>
    /// Every documented filter shape of both lists with a common, a rare and an empty match
    /// where the data has one (unknown project and queue included). Deep pages start at 60%
    /// of the ids (oldest first) for work requests, at 40% for workflows (newest first), and
    /// in the middle of the workflow for a workflow filter.
    /// </summary>
    public IReadOnlyList<Case> Cases()
    {
        var wrDeep = (long)(Total * 0.6);
        var wfDeep = (long)(Workflows * 0.4);
        var mqDeep = QueuedMassFirstRow + MassSize / 2;
        var cases = new List<Case>();
        void Wr(string q, long? deep = null) => cases.Add(new("work-requests", q, deep ?? wrDeep));
        void Wf(string q) => cases.Add(new("workflows", q, wfDeep));

        Wr("");
        foreach (var s in new[] { "pending", "running", "failed", "cancelled" })
        {
            Wr($"state={s}");
        }
        foreach (var q in new[] { "builds", "publish", "nowhere" })
        {
            Wr($"queue={q}");
        }
        foreach (var p in new[] { "ci", "late", "quiet", "nosuch" })
        {
            Wr($"project={p}");
        }
        foreach (var q in new[]
        {
            "project=ci&state=succeeded", "project=ci&state=pending", "project=late&state=pending", "project=mass&state=pending",
            "project=ci&state=failed", "project=kernel&state=cancelled", "project=quiet&state=pending",
            "project=ci&queue=tests", "project=ci&queue=publish", "project=kernel&queue=builds", "project=late&queue=kvm",
            "queue=builds&state=pending", "queue=publish&state=succeeded", "queue=kvm&state=pending", "queue=tests&state=cancelled",
            "queue=nowhere&state=pending",
            "project=ci&queue=builds&state=succeeded", "project=ci&queue=builds&state=pending",
            "project=late&queue=builds&state=pending", "project=mass&queue=publish&state=pending",
        })
        {
            Wr(q);
        }
        foreach (var q in new[]
        {
            "", "&state=pending", "&state=running", "&state=failed", "&queue=publish", "&queue=tests",
            "&project=mass", "&project=ci", "&project=mass&queue=builds&state=pending",
        })
        {
            Wr($"workflow={QueuedMass}{q}", mqDeep);
        }
        Wr($"workflow={CiWorkflow}", CiWorkflow * 10 - 5);
        Wr($"workflow={CiWorkflow}&state=succeeded&queue=tests", CiWorkflow * 10 - 5);
        Wr($"workflow={LateWorkflow}&project=late&state=pending", LateWorkflow * 10 - 5);

        Wf("");
        foreach (var s in new[] { "succeeded", "running", "failed", "cancelled" })
        {
            Wf($"state={s}");
        }
        foreach (var p in new[] { "ci", "late", "mass", "quiet", "nosuch" })
        {
            Wf($"project={p}");
        }
        foreach (var q in new[]
        {
            "project=ci&state=succeeded", "project=ci&state=running", "project=ci&state=cancelled", "project=late&state=running",
            "project=late&state=succeeded", "project=mass&state=running", "project=p7&state=failed", "project=kernel&state=cancelled",
        })
        {
            Wf(q);
        }
        return cases;
    }
}
