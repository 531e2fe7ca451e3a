namespace Kiln.Store.Database;

/// <summary>The leadership row as one statement saw it, with the database's clock at that moment.</summary>
/// <param name="Holder">Replica id of the last leader ('' if none ever led).</param>
/// <param name="Fence">Incremented on every takeover.</param>
/// <param name="HolderClockSkew">The holder's clock minus the database's at its last renewal.</param>
/// <param name="DatabaseNow">The database's now() when the row was read.</param>
public sealed record LeadershipView(
    string Holder, long Fence, DateTimeOffset AcquiredAt, DateTimeOffset ExpiresAt, TimeSpan HolderClockSkew, DateTimeOffset DatabaseNow)
{
    /// <summary>True while the lease has not run out (by the database's clock).</summary>
    public bool Held => Holder.Length > 0 && ExpiresAt > DatabaseNow;

    /// <summary>How long no replica has led: zero while the lease holds.</summary>
    public TimeSpan Leaderless => Held ? TimeSpan.Zero : DatabaseNow - ExpiresAt;
}
