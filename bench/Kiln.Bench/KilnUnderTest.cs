using System.Net.Http.Headers;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Server.Api;
using Kiln.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Kiln.Bench;

/// <summary>
/// A real, in-process <see cref="KilnServerHost"/> on 127.0.0.1 (free port) over a fresh
/// database of the bench cluster, and HTTP clients that talk to it as the CLI and workers do.
/// </summary>
public sealed class KilnUnderTest : IAsyncDisposable
{
    public const string RegistrationToken = "bench-registration-token";

    private readonly List<HttpClient> _clients = [];

    private KilnUnderTest(KilnServerHost host, string connectionString, string database, string adminToken)
    {
        Host = host;
        ConnectionString = connectionString;
        Database = database;
        AdminToken = adminToken;
        Client = NewClient();
    }

    /// <summary>The farm's first admin's API token: every client signs in with it, as the CLI does.</summary>
    public string AdminToken { get; }

    public KilnServerHost Host { get; }

    public string ConnectionString { get; }

    public string Database { get; }

    /// <summary>A client signed in as the admin, as the CLI submits with.</summary>
    public HttpClient Client { get; }

    public T Service<T>() where T : notnull => Host.Services.GetRequiredService<T>();

    /// <summary>
    /// Closes the server's idle database connections so that their backends exit and flush
    /// their statistics (an idle backend may otherwise hold them for up to 10 s).
    /// </summary>
    public void FlushStatistics()
    {
        Service<Npgsql.NpgsqlDataSource>().Clear();
        Npgsql.NpgsqlConnection.ClearAllPools();
    }

    /// <param name="sessionSettings">A setting applied to every session of the database (<c>ALTER DATABASE … SET</c>).</param>
    /// <param name="connectionOptions">Npgsql keywords appended to the server's connection string (e.g. auto-prepare).</param>
    public static async Task<KilnUnderTest> StartAsync(BenchCluster cluster, string database, string? sessionSettings = null, string? connectionOptions = null)
    {
        var cs = await cluster.CreateDatabaseAsync(database);
        if (sessionSettings is not null)
        {
            await using var conn = new Npgsql.NpgsqlConnection(cs);
            await conn.OpenAsync();
            await BenchCluster.Exec(conn, $"ALTER DATABASE {database} SET {sessionSettings}");
        }
        var host = await KilnServerHost.StartAsync(
            new KilnServerOptions
            {
                DatabaseUrl = connectionOptions is null ? cs : $"{cs};{connectionOptions}",
                DataDirectory = Path.Combine("/tmp", $"kiln-bench-data-{Environment.ProcessId}"),
                Urls = "http://127.0.0.1:0",
                WorkerToken = RegistrationToken,
                // The bench measures the engine, not the limiter: thousands of requests a second from one address and token.
                RateLimitPerMinute = 0,
                AnonymousRateLimitPerMinute = 0,
                WorkerRateLimitPerMinute = 0,
            },
            logging: b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole(o => o.SingleLine = true));
        return new KilnUnderTest(host, cs, database, await host.LocalAdminTokenAsync(null, CancellationToken.None));
    }

    public HttpClient NewClient()
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri(Host.Url),
            Timeout = TimeSpan.FromSeconds(120),
        };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        _clients.Add(client);
        return client;
    }

    /// <summary>Registers a worker over HTTP; returns its secret.</summary>
    public async Task<string> RegisterAsync(string name, int slots)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workers/register")
        {
            Content = JsonContent.Create(new RegisterWorkerRequest(name, ["amd64"], [], ["builds"], slots), options: ApiJson.Options),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", RegistrationToken);
        using var response = await Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<RegisterWorkerResponse>(ApiJson.Options))!.Secret;
    }

    /// <summary>A client that authenticates as a freshly registered worker.</summary>
    public async Task<HttpClient> WorkerClientAsync(string name, int slots)
    {
        var secret = await RegisterAsync(name, slots);
        var client = NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return client;
    }

    public async Task<SubmitWorkflowResponse> SubmitAsync(WorkflowDocument document, CancellationToken ct = default)
    {
        using var response = await Client.PostAsJsonAsync("/api/v1/workflows", document, ApiJson.Options, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"submission failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
        }
        return (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>(ApiJson.Options, ct))!;
    }

    /// <summary>N independent no-op jobs (the lifecycle load): no dependencies, default queue, any architecture.</summary>
    public static WorkflowDocument Independent(int jobs, string name) => new()
    {
        Name = name,
        Jobs = Enumerable.Range(0, jobs).ToDictionary(i => $"j{i}", _ => new JobDocument { Run = "true" }),
    };

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _clients)
        {
            c.Dispose();
        }
        await Host.DisposeAsync();
    }
}
