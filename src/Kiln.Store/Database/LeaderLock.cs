using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Store.Database;

/// <summary>
/// Database-enforced "exactly one": a session advisory lock held on a dedicated connection.
/// Whoever holds it runs the background duties; if that process dies, its connection closes,
/// PostgreSQL releases the lock, and another replica takes it at its next check. No lock file,
/// no deployment convention (Copr's stale lock file, Debusine's scheduler running twice).
/// </summary>
public sealed partial class LeaderLock(NpgsqlDataSource dataSource, ILogger<LeaderLock> logger) : IAsyncDisposable
{
    /// <summary>"kiln" in ASCII, duty leadership.</summary>
    public const long Key = 0x6b696c6e_0002;

    private NpgsqlConnection? _connection;

    public bool IsLeader => _connection is not null;

    /// <summary>Takes leadership if free, or confirms it is still held (the connection still answers).</summary>
    public async Task<bool> CheckAsync(CancellationToken ct)
    {
        if (_connection is not null)
        {
            try
            {
                await using var ping = new NpgsqlCommand("SELECT 1", _connection);
                await ping.ExecuteScalarAsync(ct);
                return true;
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                LogLost(logger, e.Message);
                await ReleaseAsync();
            }
        }
        var conn = await dataSource.OpenConnectionAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand($"SELECT pg_try_advisory_lock({Key})", conn);
            if ((bool)(await cmd.ExecuteScalarAsync(ct))!)
            {
                _connection = conn;
                LogAcquired(logger);
                return true;
            }
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
        await conn.DisposeAsync();
        return false;
    }

    public async Task ReleaseAsync()
    {
        var conn = Interlocked.Exchange(ref _connection, null);
        if (conn is not null)
        {
            // Closing the session releases the lock; a pooled connection would keep it, so drop it from the pool.
            try
            {
                await using var cmd = new NpgsqlCommand($"SELECT pg_advisory_unlock({Key})", conn);
                await cmd.ExecuteScalarAsync();
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                // The session is gone, and the lock with it.
            }
            await conn.DisposeAsync();
        }
    }

    public ValueTask DisposeAsync() => new(ReleaseAsync());

    [LoggerMessage(Level = LogLevel.Information, Message = "This server now leads the background duties")]
    private static partial void LogAcquired(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost duty leadership: {Reason}")]
    private static partial void LogLost(ILogger logger, string reason);
}
