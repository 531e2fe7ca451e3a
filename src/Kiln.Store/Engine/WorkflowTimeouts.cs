using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// A workflow's <c>timeout</c>: once its deadline has passed, its unfinished work is cancelled
/// through the same cancel a user asks for (waiting work at once, running work at its worker's
/// next heartbeat). A leader duty; each workflow is cancelled once (<c>timed_out_at</c>), so a
/// workflow whose running jobs take a while to stop is not cancelled again every tick.
/// </summary>
public sealed class WorkflowTimeouts(NpgsqlDataSource dataSource, GraphActions actions, TimeProvider time)
{
    /// <summary>Served by the partial index workflows_deadline: only running workflows with a deadline not yet acted on.</summary>
    private const string ExpiredSql = """
        SELECT id FROM workflows
        WHERE deadline_at < @now AND timed_out_at IS NULL AND state = 'running'
        ORDER BY deadline_at, id
        LIMIT @batch
        """;

    /// <summary>Written after the cancel committed: a crash between the two cancels again, which is harmless.</summary>
    private const string MarkSql = "UPDATE workflows SET timed_out_at = @now WHERE id = @id AND timed_out_at IS NULL";

    /// <summary>Cancels up to <paramref name="batch"/> workflows past their deadline; returns how many.</summary>
    public async Task<int> CancelExpiredAsync(int batch, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var ids = new List<long>();
        await using (var cmd = dataSource.CreateCommand(ExpiredSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            cmd.Parameters.Add(new NpgsqlParameter<int>("batch", batch));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                ids.Add(reader.GetInt64(0));
            }
        }
        foreach (var id in ids)
        {
            await actions.CancelWorkflowAsync(id, ct);
            await using var mark = dataSource.CreateCommand(MarkSql);
            mark.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            mark.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await mark.ExecuteNonQueryAsync(ct);
        }
        return ids.Count;
    }
}
