using Kiln.Server.Api;
using Kiln.Server.Duties;
using Kiln.Server.Metrics;
using Kiln.Server.Notices;
using Kiln.Server.Repositories;
using Kiln.Server.Security;
using Kiln.Server.Web;
using Kiln.Store.Artifacts;
using Kiln.Store.Database;
using Kiln.Store.Engine;
using Kiln.Store.Identity;
using Kiln.Store.Logs;
using Kiln.Store.Notices;
using Kiln.Store.Scheduling;
using Kiln.Store.Secrets;
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

    private KilnServerHost(WebApplication app, LocalPostgresCluster? cluster, string url, string? workerToken)
    {
        _app = app;
        _cluster = cluster;
        Url = url;
        WorkerToken = workerToken;
    }

    /// <summary>The base URL the server listens on (with the real port when 0 was asked for).</summary>
    public string Url { get; }

    /// <summary>
    /// A token workers register with (into the default pool): the farm-wide one given by
    /// <c>--worker-token</c>/<c>KILN_WORKER_TOKEN</c>; else the registration token this start made
    /// because the default pool had none live, or the one in <see cref="WorkerTokenFile"/> while it
    /// still enrols; else null (an admin makes one: <c>kiln worker token create --pool default</c>).
    /// </summary>
    public string? WorkerToken { get; private set; }

    /// <summary>Where a server that makes the default pool's registration token writes it (mode 0600), relative to the data directory.</summary>
    public const string WorkerTokenFile = "worker-token";

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
            // Only an operator's configured secret: no farm-wide token is kept in the database.
            var workerToken = options.WorkerToken is { Length: > 0 } token ? token : null;

            var services = builder.Services;
            services.AddSingleton(dataSource);
            services.AddSingleton(time ?? TimeProvider.System);
            services.AddSingleton(options);
            services.AddSingleton(new WorkerRegistrationToken(workerToken));
            services.AddSingleton<WorkSignal>();
            services.AddSingleton<SubmissionStore>();
            services.AddSingleton<WorkflowHolds>();
            services.AddSingleton<ConcurrencyStore>();
            services.AddSingleton<HeldStore>();
            services.AddSingleton<Kiln.Store.Events.EventStore>();
            // Forge intake (docs/webhooks.md): repository links, webhooks, reconcile.
            services.AddSingleton<Kiln.Store.Events.RepositoryLinkStore>();
            services.AddSingleton<Hooks.ForgeIntake>();
            services.AddSingleton<Kiln.Store.Events.LinkReconcileStore>();
            services.AddSingleton<Hooks.LinkReconciler>();
            services.AddSingleton<ILeaderDuty, Hooks.ReconcileDuty>();

            services.AddSingleton<Kiln.Store.Events.TriggerStore>();
            services.AddSingleton<Kiln.Store.Events.EventProcessingStore>();
            services.AddSingleton<Kiln.Store.Events.EventPauses>();
            services.AddSingleton<Kiln.Store.Events.EventQueries>();
            services.AddSingleton<Events.EventProcessor>();
            services.AddSingleton<ILeaderDuty, Events.EventProcessorDuty>();
            services.AddSingleton<ILeaderDuty, Events.ScheduleDuty>();
            services.AddHostedService<Events.EventSignalListener>();
            // Status reporting and outgoing webhooks (docs/status-reports.md): the outbox and its sender.
            services.AddSingleton<Kiln.Store.Outbox.OutboxStore>();
            services.AddSingleton<Kiln.Store.Outbox.OutboxQueries>();
            services.AddSingleton<Outbox.StatusOutboxDuty>();
            services.AddSingleton<ILeaderDuty>(s => s.GetRequiredService<Outbox.StatusOutboxDuty>());
            services.AddHostedService<Outbox.StatusSignalListener>();
            services.AddSingleton<Outbox.IOutboxSender, Outbox.Forges.ForgeStatusSender>();
            services.AddSingleton<Outbox.Forges.CommitStatusWriter>();
            services.AddSingleton<Outbox.Forges.IForgeStatusWriter, Outbox.Forges.GitHubStatusWriter>();
            services.AddSingleton<Outbox.Forges.IForgeStatusWriter, Outbox.Forges.GitLabStatusWriter>();
            services.AddSingleton<Outbox.Forges.IForgeStatusWriter, Outbox.Forges.ForgejoStatusWriter>();
            services.AddSingleton<Outbox.IOutboxSender, Outbox.Webhooks.WebhookSender>();
            services.AddSingleton<Kiln.Store.Outbox.WebhookSubscriptionStore>();
            services.AddSingleton<Kiln.Store.Outbox.ForgeAppStore>();
            // One HttpClient for every status and webhook write; each write is bounded by StatusTimeout.
            // Redirects are not followed: a webhook URL is its owner's choice, and a receiver must not bounce Kiln to another host.
            services.AddSingleton(new Outbox.OutboxHttp(new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan }));
            services.AddSingleton<ClaimStore>();
            services.AddSingleton<ReportStore>();
            services.AddSingleton<LeaseReaper>();
            services.AddSingleton<WorkflowTimeouts>();
            services.AddSingleton<CompletionBatcher>();
            services.AddSingleton<QueryStore>();
            services.AddSingleton<GraphActions>();
            services.AddSingleton<WorkerStore>();
            services.AddSingleton<PoolStore>();
            services.AddSingleton<RegistrationTokenStore>();
            services.AddSingleton(new LeadershipOptions { Lease = options.LeadershipLease });
            services.AddSingleton<LeaderLease>();
            services.AddSingleton<ILeaderDuty, LeaseReaperDuty>();
            services.AddSingleton<ILeaderDuty, WorkflowTimeoutDuty>();
            services.AddSingleton<ConcurrencyDuty>();
            services.AddSingleton<ILeaderDuty>(s => s.GetRequiredService<ConcurrencyDuty>());
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
            services.AddKilnRateLimits(options);
            services.AddIdentityStores();
            // Project secrets: the key file is read (or made) now, so a bad one stops the start (docs/operations.md).
            services.AddSingleton(SecretBox.LoadOrCreate(options.SecretsKeyPath));
            services.AddSingleton<SecretStore>();
            services.AddSingleton<SecretSubmissionCheck>();
            services.AddSingleton<Kiln.Store.Environments.EnvironmentResolver>();
            services.AddSingleton<Kiln.Server.Packaging.WorkflowSubmission>();
            services.AddSingleton<Kiln.Store.Environments.EnvironmentStore>();
            services.AddSingleton<Kiln.Server.Packaging.EnvironmentBuilds>();
            services.AddSingleton<ILeaderDuty, Kiln.Server.Packaging.EnvironmentDuty>();
            services.AddSingleton<Kiln.Store.Results.ResultStore>();
            services.AddSingleton<Kiln.Server.Packaging.ResultIntake>();
            services.AddSingleton<Kiln.Store.Packaging.SourceUploadStore>();
            services.AddSingleton<Kiln.Store.Packaging.RebuildStore>();
            services.AddSingleton<Kiln.Server.Packaging.SourceVerification>();
            services.AddSingleton<Kiln.Server.Packaging.PackagePipelines>();
            services.AddSingleton<Kiln.Server.Packaging.MassRebuilds>();
            services.AddSingleton<SecretHandout>();
            // Repositories (docs/packaging.md, "Repositories"): publish under DATA_DIR/repos, keys under DATA_DIR/signing.
            services.AddSingleton<Repositories.RepositoryPaths>();
            services.AddSingleton(s => new Repositories.SigningKeys(s.GetRequiredService<Repositories.RepositoryPaths>().Signing));
            services.AddSingleton<Kiln.Store.Repositories.RepositoryStore>();
            services.AddSingleton<Kiln.Store.Repositories.PublishSource>();
            services.AddSingleton<Repositories.RepositoryPublisher>();
            if (!options.HandleShutdownSignals)
            {
                services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
            }
            services.AddSingleton(new Core.WorkflowPlanner(new Core.WorkflowLimits { MaxDocumentBytes = options.MaxDocumentBytes }));
            services.AddHostedService<WorkSignalListener>();
            services.AddHostedService<ConcurrencySignalListener>();
            services.AddHostedService<DutyRunner>();
            if (options.Amqp is { } amqp)
            {
                // Koji messages from the bus (docs/koji.md): on every replica, competing for one queue.
                services.AddSingleton(amqp);
                services.AddHostedService<Kiln.Server.Hooks.Koji.KojiAmqpConsumer>();
            }
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
            // The web interface (docs/ui.md): Razor components rendered on the server, forms with anti-forgery tokens.
            services.AddRazorComponents();
            services.AddAntiforgery(o =>
            {
                o.Cookie.Name = "kiln_antiforgery";
                o.Cookie.Path = "/ui";
                o.Cookie.SameSite = Microsoft.AspNetCore.Http.SameSiteMode.Strict;
            });
            services.AddSingleton<Web.WebQueries>();
            if (options.Oidc is { } oidc)
            {
                services.AddKilnOidc(oidc);
            }
            // A query or route value that does not bind is a 400 naming it (ApiExceptionHandler), not an empty 400.
            services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);

            var app = builder.Build();
            app.UseExceptionHandler();
            app.UseStatusCodePages();
            app.UseNoticeHeader();
            app.UseEdgeTextValidation();
            app.UseRepositoryBasicAuth();
            if (options.Oidc is not null)
            {
                // The OpenID Connect handler answers its callback (/ui/sign-in/oidc/callback) here.
                app.UseAuthentication();
            }
            app.UseKilnAccess();
            app.UseWebSession();
            app.UseKilnRateLimits();
            app.MapOpenApi("/openapi/{documentName}.json").Allow(AccessPolicy.Public);
            app.MapGet("/", Web.WebUi.Root).ExcludeFromDescription().Allow(AccessPolicy.Public);
            app.MapWebUi(options.Oidc);
            app.MapWorkflowsApi();
            app.MapStatusReportsApi();
            app.MapWorkRequestsApi();
            app.MapHeldApi();
            app.MapWorkersApi();
            app.MapPoolsApi();
            app.MapProjectsApi();
            app.MapLogsApi();
            app.MapArtifactsApi();
            app.MapResultsApi();
            app.MapNoticesApi();
            app.MapIdentityApi();
            app.MapSecretsApi();
            app.MapTriggersApi();
            app.MapEventsApi();
            Kiln.Server.Packaging.EnvironmentsApi.MapEnvironmentsApi(app);
            app.MapRepositoriesApi();
            app.MapRepositoryFiles();
            Kiln.Server.Packaging.SourcesApi.MapSourcesApi(app);
            Kiln.Server.Packaging.RebuildsApi.MapRebuildsApi(app);
            app.Services.GetRequiredService<FarmStateCollector>();
            app.MapMetrics("/metrics", app.Services.GetRequiredService<KilnMetrics>().Registry).ExcludeFromDescription().Allow(AccessPolicy.Public);
            app.MapStatusApi();
            Hooks.HooksApi.MapHooksApi(app);
            Hooks.LinksApi.MapLinksApi(app);
            Api.WebhooksApi.MapWebhooksApi(app);
            Api.ForgeAppsApi.MapForgeAppsApi(app);

            Kiln.Server.Hooks.Koji.KojiEventsApi.MapKojiEventsApi(app);
            AccessPolicies.Verify(((Microsoft.AspNetCore.Routing.IEndpointRouteBuilder)app).DataSources);
            var bootstrapAdminToken = await FirstAdminAsync(app.Services.GetRequiredService<IdentityStore>(), options, bootLogger, ct);
            workerToken ??= await DefaultPoolTokenAsync(app.Services, options, bootLogger, ct);
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
        var path = await WriteSecretFileAsync(options.DataDirectory, FirstAdminTokenFile, token, ct);
        LogFirstAdmin(logger, path);
        return token;
    }

    /// <summary>
    /// The default pool's registration token for this start (<see cref="WorkerToken"/>): when the
    /// pool has no live token (a new farm, or all revoked or expired), a new one, written to
    /// DATA_DIR/worker-token (0600) as the first admin's is; else the one in that file while it
    /// still enrols into the default pool; else none.
    /// </summary>
    private static async Task<string?> DefaultPoolTokenAsync(IServiceProvider services, KilnServerOptions options, ILogger logger, CancellationToken ct)
    {
        var tokens = services.GetRequiredService<RegistrationTokenStore>();
        var pool = (await services.GetRequiredService<PoolStore>().GetAsync(PoolStore.DefaultPool, ct))!;
        if (!await tokens.HasLiveAsync(pool.Id, ct))
        {
            var made = await MakeDefaultPoolTokenAsync(services, options, "made at server start: the default pool had no live token", ct);
            LogWorkerToken(logger, Path.GetFullPath(Path.Combine(options.DataDirectory, WorkerTokenFile)));
            return made;
        }
        var file = Path.Combine(options.DataDirectory, WorkerTokenFile);
        if (!File.Exists(file))
        {
            return null;
        }
        var text = (await File.ReadAllLinesAsync(file, ct)).FirstOrDefault()?.Trim();
        return text is not null && (await tokens.CheckAsync(text, ct)).PoolId == pool.Id ? text : null;
    }

    private static async Task<string> MakeDefaultPoolTokenAsync(IServiceProvider services, KilnServerOptions options, string comment, CancellationToken ct)
    {
        var pool = (await services.GetRequiredService<PoolStore>().GetAsync(PoolStore.DefaultPool, ct))!;
        var created = await services.GetRequiredService<RegistrationTokenStore>().CreateAsync(pool.Id, comment, null, null, ct);
        await services.GetRequiredService<AuditStore>().RecordAsync(AuditActor.System, "registration-token.create",
            $"registration-token:{created.Token.Id}", new { pool = pool.Name, prefix = created.Token.Prefix, comment }, ct);
        await WriteSecretFileAsync(options.DataDirectory, WorkerTokenFile, created.Secret, ct);
        return created.Secret;
    }

    /// <summary>
    /// The token <c>kiln up</c> gives its local workers: <see cref="WorkerToken"/>, else a new
    /// registration token of the default pool (written to DATA_DIR/worker-token). Whoever runs
    /// <c>kiln up</c> owns the data directory and its database.
    /// </summary>
    public async Task<string> LocalWorkerTokenAsync(KilnServerOptions options, CancellationToken ct) =>
        WorkerToken ??= await MakeDefaultPoolTokenAsync(Services, options, "kiln up (local workers)", ct);

    /// <summary>Writes <paramref name="secret"/> to DATA_DIR/<paramref name="name"/>, mode 0600; returns its full path.</summary>
    private static async Task<string> WriteSecretFileAsync(string dataDirectory, string name, string secret, CancellationToken ct)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Kiln runs on Linux");
        }
        Directory.CreateDirectory(dataDirectory);
        var path = Path.GetFullPath(Path.Combine(dataDirectory, name));
        // Created 0600 under a unique name, then renamed into place: never readable by others, never half-written.
        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}";
        await using (var file = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            await file.WriteAsync(System.Text.Encoding.ASCII.GetBytes(secret + "\n"), ct);
        }
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No user existed: made the first admin, 'admin'; its token is in {Path} (mode 0600). Sign in with 'kiln login --token-file {Path}', then delete the file")]
    private static partial void LogFirstAdmin(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The default worker pool had no live registration token: made one; it is in {Path} (mode 0600). Workers register with 'KILN_TOKEN=$(cat {Path}) kiln worker'; rotate with 'kiln worker token create --pool default' and 'kiln worker token revoke ID'")]
    private static partial void LogWorkerToken(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kiln server listening on {Address}")]
    private static partial void LogListening(ILogger logger, string address);
}

/// <summary>The farm-wide worker registration token an operator configured (<c>--worker-token</c>), if any; it enrols into the default pool.</summary>
public sealed record WorkerRegistrationToken(string? Value);
