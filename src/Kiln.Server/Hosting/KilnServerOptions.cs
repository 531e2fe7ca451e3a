namespace Kiln.Server.Hosting;

/// <summary>Everything <c>kiln server</c> can be told; each has an option and an environment variable.</summary>
public sealed record KilnServerOptions
{
    /// <summary>External PostgreSQL (KILN_DATABASE_URL); unset = the managed private cluster.</summary>
    public string? DatabaseUrl { get; init; }

    /// <summary>Where the managed cluster (and later artifacts) live (KILN_DATA_DIR).</summary>
    public string DataDirectory { get; init; } = ".kiln";

    /// <summary>Listen address, e.g. http://127.0.0.1:8080 (KILN_URLS). Port 0 picks a free port.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8080";

    /// <summary>Token workers present to register (KILN_WORKER_TOKEN); generated and stored once if unset.</summary>
    public string? WorkerToken { get; init; }

    /// <summary>How long a claim or heartbeat keeps a lease.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often workers heartbeat; well under the lease so two lost heartbeats do not lose it.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest long-poll a claim may ask for.</summary>
    public TimeSpan MaxClaimWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long duty leadership lasts without renewal (3–30 s): a dead, frozen or cut-off leader is
    /// replaced within this plus one <see cref="DutyInterval"/>.
    /// </summary>
    public TimeSpan LeadershipLease { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Interval of the duty loop (leadership check, lease reaper).</summary>
    public TimeSpan DutyInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Managed cluster only: fsync off, for tests and benchmarks.</summary>
    public bool EphemeralDatabase { get; init; }

    /// <summary>Largest workflow document accepted.</summary>
    public int MaxDocumentBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Largest artifact accepted (default 4 GiB); a bigger upload is refused with 413.</summary>
    public long MaxArtifactBytes { get; init; } = 4L * 1024 * 1024 * 1024;

    /// <summary>Largest file of a source upload (kiln build; 2 GiB). The .dsc itself is at most 1 MiB and an upload at most 64 files.</summary>
    public long MaxSourceFileBytes { get; init; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Largest log kept per attempt (default 1 GiB); output past it is dropped and the worker says so.</summary>
    public long MaxLogBytes { get; init; } = 1024L * 1024 * 1024;

    /// <summary>Adds high-cardinality labels to /metrics: job name on attempt metrics, worker name on claim metrics (--metrics-detailed).</summary>
    public bool MetricsDetailed { get; init; }

    /// <summary>
    /// PEM certificate chain for https:// listen URLs (--tls-cert, KILN_TLS_CERT): the server's
    /// certificate first, then any intermediates. Goes with <see cref="TlsKeyFile"/>.
    /// </summary>
    public string? TlsCertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="TlsCertificateFile"/> (--tls-key, KILN_TLS_KEY).</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>
    /// TLS ends at a reverse proxy in front of Kiln (--behind-proxy, KILN_BEHIND_PROXY=1): plain
    /// http may listen beyond loopback, and X-Forwarded-For/-Proto are honoured from
    /// <see cref="TrustedProxies"/> only.
    /// </summary>
    public bool BehindProxy { get; init; }

    /// <summary>
    /// Addresses or CIDR networks whose X-Forwarded-* headers are believed (--trusted-proxy,
    /// KILN_TRUSTED_PROXIES); empty = loopback only (127.0.0.0/8 and ::1). Naming any replaces loopback.
    /// </summary>
    public IReadOnlyList<string> TrustedProxies { get; init; } = [];

    /// <summary>
    /// Requests a minute per API token (--rate-limit, KILN_RATE_LIMIT): a bucket of this many,
    /// refilled at this rate. 0 = unlimited. See docs/api.md, "Rate limits".
    /// </summary>
    public int RateLimitPerMinute { get; init; } = 600;

    /// <summary>Requests a minute per client address from callers without a token (--anonymous-rate-limit, KILN_ANONYMOUS_RATE_LIMIT); 0 = unlimited.</summary>
    public int AnonymousRateLimitPerMinute { get; init; } = 120;

    /// <summary>
    /// Worker protocol requests a minute per worker secret, and registrations per address
    /// (--worker-rate-limit, KILN_WORKER_RATE_LIMIT); a budget of its own, so reads never starve
    /// claims and reports. 0 = unlimited.
    /// </summary>
    public int WorkerRateLimitPerMinute { get; init; } = 6000;

    /// <summary>
    /// Event intake requests a minute per token (POST /api/v1/events/koji; --event-rate-limit,
    /// KILN_EVENT_RATE_LIMIT): a bus bridge forwarding a mass re-tag must not be throttled to the API's
    /// pace, and its burst must not spend its token's API budget. 0 = unlimited.
    /// </summary>
    public int EventRateLimitPerMinute { get; init; } = 60_000;

    /// <summary>
    /// The key project secrets are sealed with, kept outside the database (--secrets-key-file,
    /// KILN_SECRETS_KEY_FILE); null = DATA_DIR/secrets.key. Created (0600) with a new key when missing.
    /// </summary>
    public string? SecretsKeyFile { get; init; }

    /// <summary>The key file this server uses: <see cref="SecretsKeyFile"/>, else secrets.key in the data directory.</summary>
    public string SecretsKeyPath => SecretsKeyFile ?? Path.Combine(DataDirectory, "secrets.key");

    /// <summary>
    /// Stop on SIGINT/SIGTERM (the default, for <c>kiln server</c>). <c>kiln up</c> turns it off: it
    /// hosts the server in-process and stops it itself, after its workers have reported.
    /// </summary>
    public bool HandleShutdownSignals { get; init; } = true;

    /// <summary>Consume Koji messages from an AMQP broker (--amqp-url and friends; docs/koji.md); null = no consumer.</summary>
    public Hooks.Koji.AmqpIntakeOptions? Amqp { get; init; }

    /// <summary>
    /// The storm guard of a source as a whole (docs/events.md): beyond this many triggered workflows from
    /// one source in <see cref="EventSourceBurstWindow"/>, new ones are created held. A limit stored for
    /// the source (event_sources.burst_limit) wins.
    /// </summary>
    public int EventSourceBurstLimit { get; init; } = 500;

    /// <summary>The window of <see cref="EventSourceBurstLimit"/>.</summary>
    public TimeSpan EventSourceBurstWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The least time between two writes of one status channel (a forge installation or token, a
    /// webhook subscription): GitHub asks for serial writes at least a second apart (docs/status-reports.md).
    /// </summary>
    public TimeSpan StatusSpacing { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one status or webhook write may take before it counts as failed and is retried.</summary>
    public TimeSpan StatusTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The first retry delay of a status write that failed (5xx, timeout); doubled per attempt, at most 10 minutes.</summary>
    public TimeSpan StatusRetryBase { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The address users reach this farm at (--public-url, KILN_PUBLIC_URL), for the links in forge
    /// statuses and webhooks; unset: the first listen address.
    /// </summary>
    public string? PublicUrl { get; init; }

    /// <summary>An OpenID Connect provider for browser sign-in (docs/ui.md); null: API tokens only.</summary>
    public Web.OidcOptions? Oidc { get; init; }

    /// <summary><see cref="PublicUrl"/>, or the first of <see cref="Urls"/>.</summary>
    public string PublicBaseUrl => PublicUrl ?? Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "http://127.0.0.1:8080";
}
