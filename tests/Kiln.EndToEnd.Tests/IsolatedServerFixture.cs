using Kiln.Server.Hosting;
using Kiln.Testing;

namespace Kiln.EndToEnd.Tests;

/// <summary>An in-process server whose logs and artifacts go to a fresh directory, not the shared <c>./.kiln</c>.</summary>
public sealed class IsolatedServerFixture : ServerFixture, IAsyncLifetime
{
    private readonly string _dataDirectory = Directory.CreateTempSubdirectory("kiln-api-").FullName;

    public override KilnServerOptions Options(string connectionString) =>
        base.Options(connectionString) with { DataDirectory = _dataDirectory };

    Task IAsyncLifetime.InitializeAsync() => InitializeAsync();

    async Task IAsyncLifetime.DisposeAsync()
    {
        await DisposeAsync();
        Directory.Delete(_dataDirectory, recursive: true);
    }
}
