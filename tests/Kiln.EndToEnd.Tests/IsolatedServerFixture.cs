using Kiln.Server.Hosting;
using Kiln.Testing;

namespace Kiln.EndToEnd.Tests;

/// <summary>An in-process server whose logs and artifacts go to a fresh directory, not the shared <c>./.kiln</c>.</summary>
public class IsolatedServerFixture : ServerFixture, IAsyncLifetime
{
    /// <summary>The server's data directory: <c>logs/</c> and <c>artifacts/</c> are in it.</summary>
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("kiln-api-").FullName;

    public override KilnServerOptions Options(string connectionString) =>
        base.Options(connectionString) with { DataDirectory = DataDirectory };

    /// <summary>Before the server starts, with its data directory made.</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    /// <summary>After the server stopped, before its data directory is removed.</summary>
    protected virtual Task CleanUpAsync() => Task.CompletedTask;

    async Task IAsyncLifetime.InitializeAsync()
    {
        await PrepareAsync();
        await InitializeAsync();
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        await DisposeAsync();
        await CleanUpAsync();
        Directory.Delete(DataDirectory, recursive: true);
    }
}
