using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Engine;

/// <summary>
/// A search of workflows (the web interface's list filters): each field null for "any". The branch
/// is the one of the event that made the workflow (a push's or a pull request's head branch).
/// </summary>
public sealed record WorkflowSearch(
    string? Project = null, string? State = null, string? Trigger = null, string? Submitter = null, string? Branch = null,
    DateTimeOffset? Since = null, DateTimeOffset? Until = null)
{
    /// <summary>True when it uses more than project and state (what the tuned list queries take).</summary>
    public bool Extended => Trigger is not null || Submitter is not null || Branch is not null || Since is not null || Until is not null;

    internal const string Where = """
        NOT (w.project_id = ANY (@hidden))
          AND (@project_id::bigint IS NULL OR w.project_id = @project_id)
          AND (@state::text IS NULL OR w.state = @state)
          AND (@trigger::text IS NULL OR w.trigger = @trigger)
          AND (@submitter::text IS NULL OR w.submitted_by = (SELECT u.id FROM users u WHERE u.name = @submitter))
          AND (@since::timestamptz IS NULL OR w.created_at >= @since)
          AND (@until::timestamptz IS NULL OR w.created_at < @until)
          AND (@branch::text IS NULL OR EXISTS (SELECT 1 FROM events e WHERE e.id = w.event_id AND e.facts ->> 'branch' = @branch))
        """;

    internal void Bind(NpgsqlParameterCollection p, long? projectId, long[]? hidden)
    {
        p.Add(new NpgsqlParameter<long[]>("hidden", hidden ?? []));
        p.Add(new NpgsqlParameter("project_id", NpgsqlDbType.Bigint) { Value = (object?)projectId ?? DBNull.Value });
        p.Add(new NpgsqlParameter("state", NpgsqlDbType.Text) { Value = (object?)State ?? DBNull.Value });
        p.Add(new NpgsqlParameter("trigger", NpgsqlDbType.Text) { Value = (object?)Trigger ?? DBNull.Value });
        p.Add(new NpgsqlParameter("submitter", NpgsqlDbType.Text) { Value = (object?)Submitter ?? DBNull.Value });
        p.Add(new NpgsqlParameter("since", NpgsqlDbType.TimestampTz) { Value = (object?)Since ?? DBNull.Value });
        p.Add(new NpgsqlParameter("until", NpgsqlDbType.TimestampTz) { Value = (object?)Until ?? DBNull.Value });
        p.Add(new NpgsqlParameter("branch", NpgsqlDbType.Text) { Value = (object?)Branch ?? DBNull.Value });
    }
}
