using Npgsql;

namespace Kiln.Store.Artifacts;

/// <summary>
/// The fence for a worker's writes beside its report (log chunks, artifacts): the lease token
/// must hold the work request's running attempt, for this worker, unexpired. Reads only —
/// the engine owns every change to the work request row.
/// </summary>
public sealed class AttemptLeases(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>Same conditions as the engine's completion fence, so a write accepted here is one whose report would be accepted.</summary>
    private const string HeldSql = """
        SELECT attempt FROM work_requests
        WHERE id = @id AND state = 'running' AND lease_token = @token AND worker_id = @worker AND lease_expires_at >= @now
        """;

    private const string CurrentSql = "SELECT state, attempt FROM work_requests WHERE id = @id";

    /// <summary>An ended attempt's lease is on its attempt row; the running one's on the work request.</summary>
    private const string LeaseOfSql = """
        SELECT lease_token FROM attempts WHERE work_request_id = @id AND attempt = @attempt
        UNION ALL
        SELECT lease_token FROM work_requests WHERE id = @id AND attempt = @attempt AND state = 'running' AND lease_token IS NOT NULL
        LIMIT 1
        """;

    /// <summary>The attempt the lease holds, or null when it holds none (ended, expired, another worker's).</summary>
    public async Task<int?> HeldAttemptAsync(long workRequestId, Guid token, long workerId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(HeldSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter<Guid>("token", token));
        cmd.Parameters.Add(new NpgsqlParameter<long>("worker", workerId));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        return await cmd.ExecuteScalarAsync(ct) is int attempt ? attempt : null;
    }

    /// <summary>The work request's state and latest attempt number (0 before its first start); null when it does not exist.</summary>
    public async Task<(string State, int Attempt)?> CurrentAsync(long workRequestId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(CurrentSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetString(0), reader.GetInt32(1)) : null;
    }

    /// <summary>The lease token attempt <paramref name="attempt"/> ran under; null if it never started.</summary>
    public async Task<Guid?> LeaseOfAsync(long workRequestId, int attempt, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(LeaseOfSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter<int>("attempt", attempt));
        return await cmd.ExecuteScalarAsync(ct) is Guid lease ? lease : null;
    }
}
