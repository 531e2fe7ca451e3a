using System.CommandLine;
using Kiln.Server.Hosting;
using Kiln.Store.Database;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln server</c>: the HTTP API and background duties, on the managed or an external PostgreSQL.</summary>
public static class ServerCommand
{
    public static Command Create()
    {
        var database = new Option<string?>("--database") { Description = "PostgreSQL connection string or postgres:// URL (default: $KILN_DATABASE_URL, else a managed private cluster)" };
        var dataDir = new Option<string?>("--data-dir") { Description = "Directory for the managed database and artifacts (default: $KILN_DATA_DIR or ./.kiln)" };
        var urls = new Option<string?>("--urls") { Description = "Listen address (default: $KILN_URLS or http://127.0.0.1:8080)" };
        var workerToken = new Option<string?>("--worker-token") { Description = "Token workers register with (default: $KILN_WORKER_TOKEN, else generated once and stored)" };
        var lease = new Option<int>("--lease-seconds") { Description = "Lease length; a worker silent this long loses its work", DefaultValueFactory = _ => 60 };
        var heartbeat = new Option<int>("--heartbeat-seconds") { Description = "How often workers heartbeat", DefaultValueFactory = _ => 10 };
        var leadership = new Option<int>("--leadership-seconds") { Description = "How long duty leadership lasts unrenewed: a dead or frozen leader is replaced within this (3–30)", DefaultValueFactory = _ => 15 };
        var maxArtifact = new Option<long>("--max-artifact-bytes") { Description = "Largest artifact accepted", DefaultValueFactory = _ => new KilnServerOptions().MaxArtifactBytes };
        var maxSource = new Option<long>("--max-source-file-bytes") { Description = "Largest file of a source upload (kiln build)", DefaultValueFactory = _ => new KilnServerOptions().MaxSourceFileBytes };
        var maxLog = new Option<long>("--max-log-bytes") { Description = "Largest log kept per attempt", DefaultValueFactory = _ => new KilnServerOptions().MaxLogBytes };

        var sourceBurst = new Option<string?>("--source-burst")
        {
            Description = "The storm guard of each event source as a whole, LIMIT/WINDOW (default: $KILN_SOURCE_BURST or 500/10m); beyond it triggered workflows are created held (docs/events.md)",
        };
        var metricsDetailed = new Option<bool>("--metrics-detailed") { Description = "Label /metrics by job name and worker too (high cardinality; default off)" };
        var command = new Command("server", "Run the Kiln server (API + background duties).") { database, dataDir, urls, workerToken, lease, heartbeat, leadership, maxArtifact, maxSource, maxLog, metricsDetailed, sourceBurst };
        var transport = new TransportSecurityOptions();
        transport.AddTo(command);
        // Rate limits (docs/api.md, "Rate limits").
        var rateLimits = new RateLimitOptions();
        rateLimits.AddTo(command);
        var secretsKey = new SecretsKeyOption();
        secretsKey.AddTo(command);
        // Koji messages from an AMQP broker (docs/koji.md).
        var amqp = new AmqpIntakeCliOptions();
        amqp.AddTo(command);
        // Status reporting and outgoing webhooks (docs/status-reports.md).
        var reporting = new StatusReportingCliOptions();
        reporting.AddTo(command);
        // Browser sign-in through an OpenID Connect provider (docs/ui.md).
        var oidc = new OidcCliOptions();
        oidc.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var leaseSeconds = parse.GetValue(lease);
            var heartbeatSeconds = parse.GetValue(heartbeat);
            if (parse.GetValue(maxArtifact) < 1 || parse.GetValue(maxSource) < 1 || parse.GetValue(maxLog) < 1)
            {
                await Console.Error.WriteLineAsync("kiln server: --max-artifact-bytes and --max-log-bytes must be positive");
                return 2;
            }
            if (heartbeatSeconds < 1 || leaseSeconds < 3 * heartbeatSeconds)
            {
                await Console.Error.WriteLineAsync("kiln server: --lease-seconds must be at least 3 × --heartbeat-seconds (and the heartbeat at least 1 s)");
                return 2;
            }
            var burstText = parse.GetValue(sourceBurst) ?? Env("KILN_SOURCE_BURST") ?? "500/10m";
            if (SourceBurst(burstText) is not var (burstLimit, burstWindow))
            {
                await Console.Error.WriteLineAsync($"kiln server: --source-burst must be LIMIT/WINDOW, a limit of 1 to 1000000 workflows in a window like 10m, 1h or 1d, not '{burstText}'");
                return 2;
            }
            if (parse.GetValue(leadership) is < 3 or > 30)
            {
                await Console.Error.WriteLineAsync("kiln server: --leadership-seconds must be 3 to 30");
                return 2;
            }
            var options = secretsKey.Apply(parse, transport.Apply(parse, new KilnServerOptions
            {
                DatabaseUrl = parse.GetValue(database) ?? Env("KILN_DATABASE_URL"),
                DataDirectory = parse.GetValue(dataDir) ?? Env("KILN_DATA_DIR") ?? ".kiln",
                Urls = parse.GetValue(urls) ?? Env("KILN_URLS") ?? "http://127.0.0.1:8080",
                WorkerToken = parse.GetValue(workerToken) ?? Env("KILN_WORKER_TOKEN"),
                Lease = TimeSpan.FromSeconds(leaseSeconds),
                Heartbeat = TimeSpan.FromSeconds(heartbeatSeconds),
                LeadershipLease = TimeSpan.FromSeconds(parse.GetValue(leadership)),
                MaxArtifactBytes = parse.GetValue(maxArtifact),
                MaxSourceFileBytes = parse.GetValue(maxSource),
                MaxLogBytes = parse.GetValue(maxLog),
                MetricsDetailed = parse.GetValue(metricsDetailed),
                EventSourceBurstLimit = burstLimit,
                EventSourceBurstWindow = TimeSpan.FromSeconds(burstWindow),
            }));
            try
            {
                options = oidc.Apply(parse, reporting.Apply(parse, amqp.Apply(parse, rateLimits.Apply(parse, options))));
            }
            catch (CliException e)
            {
                await Console.Error.WriteLineAsync($"kiln server: {e.Message}");
                return e.ExitCode;
            }
            if (ListenPolicy.Refusal(options) is { } refusal)
            {
                await Console.Error.WriteLineAsync($"kiln server: {refusal}");
                return 2;
            }
            return await RunAsync(options, ct);
        });
        return command;
    }

    private static async Task<int> RunAsync(KilnServerOptions options, CancellationToken ct)
    {
        if (ListenAddress.FirstBusy(options.Urls) is { } busy)
        {
            await Console.Error.WriteLineAsync($"kiln server: {busy} is already in use by another program; choose another address with --urls");
            return 1;
        }
        KilnServerHost host;
        try
        {
            host = await KilnServerHost.StartAsync(options, ct: ct);
        }
        catch (ListenRefusedException e)
        {
            await Console.Error.WriteLineAsync($"kiln server: {e.Message}");
            return 2;
        }
        catch (Kiln.Store.Secrets.SecretKeyFileException e)
        {
            await Console.Error.WriteLineAsync($"kiln server: {e.Message}");
            return 2;
        }
        catch (ManagedPostgresException e)
        {
            await Console.Error.WriteLineAsync($"kiln server: {e.Message}");
            return 1;
        }
        catch (Npgsql.NpgsqlException e)
        {
            await Console.Error.WriteLineAsync($"kiln server: cannot use the database: {e.Message}");
            return 1;
        }
        catch (IOException e) when (e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            await Console.Error.WriteLineAsync($"kiln server: {options.Urls} is already in use; choose another with --urls");
            return 1;
        }
        await using (host)
        {
            Console.WriteLine($"Kiln server on {host.Url}");
            Console.WriteLine(host.WorkerToken is { } workerToken
                ? $"Workers register with: KILN_TOKEN={workerToken} kiln worker --server {host.Url}"
                : $"Workers register with a pool's registration token: kiln worker token create --pool default, then KILN_TOKEN=… kiln worker --server {host.Url}");
            Console.WriteLine("Press Ctrl-C to stop.");
            await host.WaitForShutdownAsync(ct);
        }
        return 0;
    }

    /// <summary>"500/10m" as (500, 600 s); null when not that shape.</summary>
    internal static (int Limit, int WindowSeconds)? SourceBurst(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 1 || !int.TryParse(text.AsSpan(0, slash), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var limit)
            || limit is < 1 or > 1_000_000 || Kiln.Core.Triggers.TriggerRules.WindowSeconds(text[(slash + 1)..]) is not { } window)
        {
            return null;
        }
        return (limit, window);
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
