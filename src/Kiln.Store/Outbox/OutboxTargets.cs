namespace Kiln.Store.Outbox;

/// <summary>
/// Where the outbox's targets come from, as SQL the submission runs in its own transaction. Each
/// statement writes a row only for a workflow whose event came through a reporting repository link
/// (one with a token or an App installation and <c>report</c> not off) or whose project has an
/// enabled webhook subscription: any other workflow reads two indexes and writes nothing.
/// </summary>
public static class OutboxTargets
{
    /// <summary>The channel (serial sender) of a link: its App installation when it has one, else its token.</summary>
    public const string LinkChannelSql = """
        CASE WHEN l.installation_id IS NOT NULL THEN 'app:' || l.installation_id || '@' || COALESCE(l.api_url, 'https://api.github.com')
             ELSE 'link:' || l.id END
        """;

    /// <summary>
    /// The targets of one new workflow: <c>{workflow}</c> is a relation with columns id and
    /// project_id (the submission's CTE or a VALUES list), <c>{jobs}</c> one with id and name (its
    /// work requests); parameters @event_id and @now. Ends with a pg_notify of
    /// <see cref="Channel"/> when any target was made, so the first status goes out at once.
    /// </summary>
    public static string InsertSql(string workflow, string jobs) => $"""
        INSERT INTO status_targets (channel, kind, workflow_id, work_request_id, group_name, link_id, subscription_id, sha, context, next_attempt_at, created_at)
        SELECT {LinkChannelSql}, 'summary', f.id, NULL::bigint, NULL::text, l.id, NULL::bigint, e.facts->>'sha', l.report_context, @now, @now
        FROM {workflow} f
        JOIN events e ON e.id = @event_id AND e.facts->>'sha' IS NOT NULL
        JOIN repository_links l ON l.id = ANY (e.link_ids) AND l.project_id = f.project_id
        WHERE @event_id IS NOT NULL AND l.report = 'summary' AND (l.token_sealed IS NOT NULL OR l.installation_id IS NOT NULL)
        UNION ALL
        SELECT {LinkChannelSql}, 'job', f.id, j.id, NULL::text, l.id, NULL::bigint, e.facts->>'sha', l.report_context || '/' || j.name, @now, @now
        FROM {workflow} f
        JOIN events e ON e.id = @event_id AND e.facts->>'sha' IS NOT NULL
        JOIN repository_links l ON l.id = ANY (e.link_ids) AND l.project_id = f.project_id
        CROSS JOIN {jobs} j
        WHERE @event_id IS NOT NULL AND l.report = 'jobs' AND (l.token_sealed IS NOT NULL OR l.installation_id IS NOT NULL)
        UNION ALL
        SELECT {LinkChannelSql}, 'group', f.id, NULL::bigint, g.name, l.id, NULL::bigint, e.facts->>'sha', l.report_context || '/' || g.name, @now, @now
        FROM {workflow} f
        JOIN events e ON e.id = @event_id AND e.facts->>'sha' IS NOT NULL
        JOIN repository_links l ON l.id = ANY (e.link_ids) AND l.project_id = f.project_id
        CROSS JOIN (SELECT DISTINCT split_part(jj.name, '[', 1) AS name FROM {jobs} jj) g
        WHERE @event_id IS NOT NULL AND l.report = 'groups' AND (l.token_sealed IS NOT NULL OR l.installation_id IS NOT NULL)
        UNION ALL
        SELECT 'hook:' || s.id, 'hook-workflow', f.id, NULL::bigint, NULL::text, NULL::bigint, s.id, NULL::text, NULL::text, @now, @now
        FROM {workflow} f JOIN webhook_subscriptions s ON s.project_id = f.project_id AND s.enabled AND 'workflow' = ANY (s.events)
        UNION ALL
        SELECT 'hook:' || s.id, 'hook-job', f.id, j.id, NULL::text, NULL::bigint, s.id, NULL::text, NULL::text, @now, @now
        FROM {workflow} f JOIN webhook_subscriptions s ON s.project_id = f.project_id AND s.enabled AND 'job' = ANY (s.events)
        CROSS JOIN {jobs} j
        RETURNING 1
        """;

    /// <summary>NOTIFYed when targets are made (or reopened): the leader's sender wakes at once.</summary>
    public const string Channel = "kiln_status";

    /// <summary>
    /// The state a target should show now, from the engine's rows (aliases t: status_targets,
    /// w: workflows, r: work_requests, e: events). Workflow phases: held, queued (behind its
    /// concurrency group), waiting (nothing started yet), running, then the final states. Jobs: their
    /// state (forge targets fold blocked and pending into queued; webhook job targets add the attempt,
    /// so a retry is news). Groups: queued, running, or the worst final outcome of their entries.
    /// </summary>
    public const string DesiredSql = """
        CASE
          WHEN t.kind IN ('summary', 'hook-workflow') THEN
            CASE WHEN w.state = 'running' THEN
                   CASE WHEN w.unfinished < w.total
                          OR EXISTS (SELECT 1 FROM work_requests x WHERE x.workflow_id = w.id AND x.state = 'running')
                        THEN 'running' ELSE 'waiting' END
                 ELSE w.state END
          WHEN t.kind = 'job' THEN
            CASE WHEN r.state IN ('blocked', 'pending') THEN 'queued' ELSE r.state END
          WHEN t.kind = 'hook-job' THEN r.state || '#' || r.attempt
          WHEN t.kind = 'group' THEN
            (SELECT CASE
                      WHEN count(*) FILTER (WHERE x.state IN ('blocked', 'pending', 'running')) = 0 THEN
                        CASE WHEN bool_or(x.state = 'failed' AND NOT x.allow_failure) THEN 'failed'
                             WHEN bool_or(x.state IN ('cancelled', 'skipped')) THEN 'cancelled'
                             ELSE 'succeeded' END
                      WHEN bool_or(x.state NOT IN ('blocked', 'pending')) THEN 'running'
                      ELSE 'queued' END
             FROM work_requests x WHERE x.workflow_id = t.workflow_id AND split_part(x.name, '[', 1) = t.group_name)
          WHEN t.kind = 'hook-event' THEN e.state
        END
        """;

    /// <summary>States after which a target of its kind changes no more (unless a retry reopens it).</summary>
    public static bool IsFinal(string kind, string state)
    {
        var bare = kind == "hook-job" ? state.Split('#')[0] : state;
        return bare is "succeeded" or "failed" or "cancelled" or "skipped" or "superseded"
            || (kind == "hook-event" && bare is "processed" or "ignored" or "rejected");
    }
}
