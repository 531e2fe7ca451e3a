using Kiln.Server.Api;
using Kiln.Server.Duties;
using Kiln.Server.Metrics;
using Kiln.Server.Notices;
using Kiln.Server.Security;
using Kiln.Store.Artifacts;
using Kiln.Store.Database;
using Kiln.Store.Engine;
using Kiln.Store.Identity;
using Kiln.Store.Logs;
using Kiln.Store.Notices;
using Kiln.Store.Scheduling;
using Kiln.Store.Secrets;
using Kiln.Store.Settings;
using Kiln.Store.Status;
using Kiln.Store.Workers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Prometheus;

namespace Kiln.Server.Hosting;

/// <summary>
/// A running Kiln server: the managed database (unless an external one was given), migrations,
/// the HTTP API and the background duties. <c>kiln server</c>, <c>kiln up</c> and the tests
/// all start it through <see cref="StartAsync"/>.
/// </summary>
public sealed partial class KilnServerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly LocalPostgresCluster? _cluster;

    private KilnServerHost(WebApplication app, LocalPostgresCluster? cluster, string url, string workerToken)
    {
        _app = app;
        _cluster = cluster;
        Url = url;
        WorkerToken = workerToken;
    }

    /// <summary>The base URL the server listens on (with the real port when 0 was asked for).</summary>
    public string Url { get; }

    /// <summary>The token workers register with.</summary>
    public string WorkerToken { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// The token of the farm's first admin when this start created it (the database had no user),
    /// else null. It is also written to <see cref="FirstAdminTokenFile"/> in the data directory.
    /// </summary>
    public string? FirstAdminToken { get; private init; }

    /// <summary>Where a server that creates the first admin writes its token (mode 0600), relative to the data directory.</summary>
    public const string FirstAdminTokenFile = "admin-token";

    public static async Task<KilnServerHost> StartAsync(
        KilnServerOptions options, Action<ILoggingBuilder>? logging = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Urls);
        TlsSetup.Apply(builder, options); // Refuses plain http beyond loopback (ListenPolicy) before anything starts.
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 2L * options.MaxDocumentBytes);
        builder.Logging.ClearProviders();
        if (logging is not null)
        {
            logging(builder.Logging);
        }
        else
        {
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }

        using var bootLoggers = LoggerFactory.Create(b => { if (logging is not null) { logging(b); } else { b.AddSimpleConsole(o => o.SingleLine = true); } });
        var bootLogger = bootLoggers.CreateLogger("Kiln.Server");
        LocalPostgresCluster? cluster = null;
        string connectionString;
        if (options.DatabaseUrl is { Length: > 0 } url)
        {
            connectionString = DatabaseUrl.ToConnectionString(url);
        }
        else
        {
            cluster = await LocalPostgresCluster.StartAsync(
                new LocalPostgresOptions { DataDirectory = Path.Combine(options.DataDirectory, "postgres"), Ephemeral = options.EphemeralDatabase },
                bootLogger, ct);
            connectionString = cluster.ConnectionString();
        }

        try
        {
            var dataSource = EngineDataSource(connectionString);
            await new Migrator(dataSource, bootLogger).MigrateAsync(ct);
            var workerToken = options.WorkerToken is { Length: > 0 } token
                ? token
                : await new SettingsStore(dataSource).GetOrCreateAsync("worker_registration_token",
                    () => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)), ct);

            var services = builder.Services;
            services.AddSingleton(dataSource);
            services.AddSingleton(time ?? TimeProvider.System);
            services.AddSingleton(options);
            services.AddSingleton(new WorkerRegistrationToken(workerToken));
            services.AddSingleton<WorkSignal>();
            services.AddSingleton<SubmissionStore>();
            services.AddSingleton<ClaimStore>();
            services.AddSingleton<ReportStore>();
            services.AddSingleton<LeaseReaper>();
            services.AddSingleton<WorkflowTimeouts>();
            services.AddSingleton<CompletionBatcher>();
            services.AddSingleton<QueryStore>();
            services.AddSingleton<GraphActions>();
            services.AddSingleton<WorkerStore>();
            services.AddSingleton(new LeadershipOptions { Lease = options.LeadershipLease });
            services.AddSingleton<LeaderLease>();
            services.AddSingleton<ILeaderDuty, LeaseReaperDuty>();
            services.AddSingleton<ILeaderDuty, WorkflowTimeoutDuty>();
            services.AddSingleton<StatusStore>();
            services.AddSingleton<ProjectStore>();
            services.AddSingleton<ExplainStore>();
            services.AddSingleton(new LogStore(Path.Combine(options.DataDirectory, "logs")));
            services.AddSingleton<LogFollowers>();
            services.AddSingleton<IBlobStore>(new FileBlobStore(Path.Combine(options.DataDirectory, "artifacts")));
            services.AddSingleton<ArtifactStore>();
            services.AddSingleton<AttemptLeases>();
            // Identity and access (docs/security.md).
            services.AddSingleton<IdentityStore>();
            services.AddSingleton<AccessStore>();
            services.AddSingleton<AuditStore>();
            services.AddSingleton<ProjectAccess>();
            // Project secrets: the key file is read (or made) now, so a bad one stops the start (docs/operations.md).
            services.AddSingleton(SecretBox.LoadOrCreate(options.SecretsKeyPath));
            services.AddSingleton<SecretStore>();
            services.AddSingleton<SecretSubmissionCheck>();
            services.AddSingleton<SecretHandout>();
            if (!options.HandleShutdownSignals)
            {
                services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
            }
            services.AddSingleton(new Core.WorkflowPlanner(new Core.WorkflowLimits { MaxDocumentBytes = options.MaxDocumentBytes }));
            services.AddHostedService<WorkSignalListener>();
            services.AddHostedService<DutyRunner>();
            // Operator notices (header cached in-process) and Prometheus metrics (see docs/operations.md).
            services.AddSingleton<NoticeStore>();
            services.AddSingleton<NoticeBoard>();
            services.AddSingleton<KilnMetrics>();
            services.AddSingleton<FarmStateCollector>();
            services.AddSingleton<AttemptLedgerReader>();
            services.AddHostedService(s => s.GetRequiredService<AttemptLedgerReader>());
            services.AddProblemDetails();
            services.AddExceptionHandler<ApiExceptionHandler>();
            services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
            services.AddOpenApi("v1", o => o.AddKilnAccess());
            // A query or route value that does not bind is a 400 naming it (ApiExceptionHandler), not an empty 400.
            services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);

            var app = builder.Build();
            app.UseExceptionHandler();
            app.UseStatusCodePages();
            app.UseNoticeHeader();
            app.UseEdgeTextValidation();
            app.UseKilnAccess();
            app.MapOpenApi("/openapi/{documentName}.json").Allow(AccessPolicy.Public);
            app.MapGet("/", () => Results.Redirect("/openapi/v1.json")).ExcludeFromDescription().Allow(AccessPolicy.Public);
            app.MapWorkflowsApi();
            app.MapWorkRequestsApi();
            app.MapWorkersApi();
            app.MapProjectsApi();
            app.MapLogsApi();
            app.MapArtifactsApi();
            app.MapNoticesApi();
            app.MapSecretsApi();
            app.Services.GetRequiredService<FarmStateCollector>();
            app.MapMetrics("/metrics", app.Services.GetRequiredService<KilnMetrics>().Registry).ExcludeFromDescription().Allow(AccessPolicy.Public);
            app.MapStatusApi();
            AccessPolicies.Verify(((Microsoft.AspNetCore.Routing.IEndpointRouteBuilder)app).DataSources);
            var bootstrapAdminToken = await FirstAdminAsync(app.Services.GetRequiredService<IdentityStore>(), options, bootLogger, ct);
            await app.StartAsync(ct);

            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            LogListening(app.Logger, address);
            return new KilnServerHost(app, cluster, TlsSetup.AdvertisedUrl(options.Urls, address), workerToken) { FirstAdminToken = bootstrapAdminToken };
        }
        catch
        {
            if (cluster is not null)
            {
                await cluster.StopAsync();
            }
            throw;
        }
    }

    /// <summary>
    /// The engine's connections: its few hot statements are prepared automatically (planning
    /// the claim and completion cost more than running them), and PostgreSQL's JIT is off —
    /// the claim's estimated cost crosses jit_above_cost and compiling it took longer than
    /// running it. Both are measured in docs/performance.md. Connections go back to the pool
    /// without the reset statements (three per use, as many statements as a claim): the engine
    /// keeps no session state — its settings are per transaction, and the two session advisory
    /// locks (leadership, migrations) are released explicitly.
    /// </summary>
    public static NpgsqlDataSource EngineDataSource(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString) { Name = "kiln" };
        builder.ConnectionStringBuilder.MaxAutoPrepare = 32;
        builder.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
        builder.ConnectionStringBuilder.NoResetOnClose = true;
        builder.ConnectionStringBuilder.Options = $"{builder.ConnectionStringBuilder.Options} -c jit=off".Trim();
        return builder.Build();
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        var dataSource = _app.Services.GetRequiredService<NpgsqlDataSource>();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await dataSource.DisposeAsync();
        if (_cluster is not null)
        {
            await _cluster.StopAsync();
        }
    }

    /// <summary>
    /// The admin token <c>kiln up</c> writes to its client config: the one made at this start, else
    /// <paramref name="existing"/> (the config's) while it still signs in an admin, else a new token
    /// for the farm's first admin. Whoever runs <c>kiln up</c> owns the data directory and its
    /// database, so handing them an admin token gives nothing away.
    /// </summary>
    public async Task<string> LocalAdminTokenAsync(string? existing, CancellationToken ct)
    {
        if (FirstAdminToken is { } made)
        {
            return made;
        }
        var identity = Services.GetRequiredService<IdentityStore>();
        if (Core.Security.TokenFormat.KindOf(existing) == Core.Security.TokenKind.Api
            && (await identity.AuthenticateAsync(existing!, ct)).User is { IsAdmin: true })
        {
            return existing!;
        }
        var admin = await identity.FirstAdminIdAsync(ct)
            ?? throw new InvalidOperationException("this farm has users but no enabled admin; make one with 'kiln user add NAME --admin' using an admin's token");
        return (await identity.CreateTokenAsync(admin, "kiln up (local)", Core.Security.Scopes.All, null, ct)).Token;
    }

    /// <summary>
    /// On a farm without users, makes the first admin ('admin') and writes its token to
    /// DATA_DIR/admin-token (0600), as Jenkins writes its initial password: the operator signs in
    /// with it ('kiln login --token-file'), makes their own account and token, and deletes the file.
    /// </summary>
    private static async Task<string?> FirstAdminAsync(IdentityStore identity, KilnServerOptions options, ILogger logger, CancellationToken ct)
    {
        var token = await identity.CreateFirstAdminAsync("admin", "first admin, made when the farm started without users", ct);
        if (token is null)
        {
            return null;
        }
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Kiln runs on Linux");
        }
        Directory.CreateDirectory(options.DataDirectory);
        var path = Path.GetFullPath(Path.Combine(options.DataDirectory, FirstAdminTokenFile));
        // Created 0600 under a unique name, then renamed into place: never readable by others, never half-written.
        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}";
        await using (var file = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            await file.WriteAsync(System.Text.Encoding.ASCII.GetBytes(token + "\n"), ct);
        }
        File.Move(temporary, path, overwrite: true);
        LogFirstAdmin(logger, path);
        return token;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No user existed: made the first admin, 'admin'; its token is in {Path} (mode 0600). Sign in with 'kiln login --token-file {Path}', then delete the file")]
    private static partial void LogFirstAdmin(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kiln server listening on {Address}")]
    private static partial void LogListening(ILogger logger, string address);
}

/// <summary>The farm's worker registration token.</summary>
public sealed record WorkerRegistrationToken(string Value);
