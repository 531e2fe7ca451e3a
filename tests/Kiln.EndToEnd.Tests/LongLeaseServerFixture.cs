namespace Kiln.EndToEnd.Tests;

/// <summary>
/// An isolated server whose leases last 60 s: for tests about work that is held (followed,
/// disabled, removed) while a loaded machine starts CLI processes — the shared fixtures' 3 s
/// lease could expire first and hand the work back before the test looks at it.
/// </summary>
public sealed class LongLeaseServerFixture : IsolatedServerFixture
{
    public override Kiln.Server.Hosting.KilnServerOptions Options(string connectionString) =>
        base.Options(connectionString) with { Lease = TimeSpan.FromSeconds(60) };
}
