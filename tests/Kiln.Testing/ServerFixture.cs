using System.Net.Http.Headers;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Server.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Kiln.Testing;

/// <summary>
/// A real Kiln server on 127.0.0.1 (free port) over its own fresh database, shared by the
/// tests of one class. Timings are short so that lease expiry is observable in seconds.
/// </summary>
public class ServerFixture : IAsyncLifetime
{
    private KilnServerHost? _host;

    public virtual KilnServerOptions Options(string connectionString) => new()
    {
        DatabaseUrl = connectionString,
        Urls = "http://127.0.0.1:0",
        WorkerToken = "test-registration-token",
        Lease = TimeSpan.FromSeconds(3),
        Heartbeat = TimeSpan.FromSeconds(1),
        MaxClaimWait = TimeSpan.FromSeconds(10),
        DutyInterval = TimeSpan.FromMilliseconds(250),
    };

    public KilnServerHost Host => _host ?? throw new InvalidOperationException("the server is not started");

    public string ConnectionString { get; private set; } = "";

    /// <summary>Every client of the fixture signs in as the farm's first admin, unless made with <see cref="AnonymousClient"/>.</summary>
    public HttpClient Client { get; private set; } = new();

    /// <summary>The token of the farm's first admin (all scopes).</summary>
    public string AdminToken { get; private set; } = "";

    public async Task InitializeAsync()
    {
        ConnectionString = await TestCluster.CreateDatabaseAsync(GetType().Name);
        _host = await KilnServerHost.StartAsync(Options(ConnectionString), logging: b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
        AdminToken = await Host.LocalAdminTokenAsync(null, CancellationToken.None);
        AdminTokens.Register(Host.Url, AdminToken);
        Client = NewClient();
    }

    /// <summary>A client that signs in as the farm's admin.</summary>
    public HttpClient NewClient()
    {
        var client = AnonymousClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        return client;
    }

    /// <summary>A client that sends no credentials.</summary>
    public HttpClient AnonymousClient() => new() { BaseAddress = new Uri(Host.Url), Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>Registers a worker and returns a client that authenticates as it.</summary>
    public async Task<HttpClient> RegisterWorkerAsync(string name, string[]? architectures = null, string[]? tags = null, string[]? queues = null, int slots = 1)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workers/register")
        {
            Content = JsonContent.Create(new RegisterWorkerRequest(name, architectures ?? ["amd64"], tags ?? [], queues ?? ["builds"], slots)),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Host.WorkerToken);
        using var response = await Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var registered = (await response.Content.ReadFromJsonAsync<RegisterWorkerResponse>())!;
        var client = NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", registered.Secret);
        return client;
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}
