using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Kiln.Store.Database;

/// <summary>Tuning of a managed cluster. Tests turn durability off; a farm keeps it.</summary>
public sealed record LocalPostgresOptions
{
    /// <summary>Directory holding <c>pgdata/</c>, the socket directory and the server log.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Trade crash safety for speed (fsync off): for test runs and benchmarks only.</summary>
    public bool Ephemeral { get; init; }

    public int MaxConnections { get; init; } = 200;

    /// <summary>OS user that runs the cluster when Kiln runs as root (initdb refuses root).</summary>
    public string RootRunsAs { get; init; } = "postgres";
}

/// <summary>
/// The embedded default: a private PostgreSQL cluster in Kiln's data directory, reachable
/// only through a Unix socket, created on first start and reused after. The socket accepts its
/// connections without a password (<c>trust</c>), so it lives in a directory of mode 0700 owned by
/// the cluster's user, and the socket itself is 0700: only that user and root can connect. When Kiln runs as
/// root the cluster runs as an unprivileged user, because initdb and postgres refuse root.
/// A cluster left running by a killed Kiln is adopted, not duplicated.
/// </summary>
public sealed partial class LocalPostgresCluster : IAsyncDisposable
{
    public const string Role = "kiln";
    public const string DatabaseName = "kiln";

    private readonly LocalPostgresOptions _options;
    private readonly ILogger _logger;
    private readonly string _bin;
    private bool _startedByUs;

    private LocalPostgresCluster(LocalPostgresOptions options, string bin, ILogger logger)
    {
        _options = options;
        _bin = bin;
        _logger = logger;
    }

    public string PgData => Path.Combine(_options.DataDirectory, "pgdata");

    /// <summary>Short path for the socket: Unix socket paths are limited to ~107 bytes.</summary>
    public string SocketDirectory => Path.Combine(_options.DataDirectory, "run");

    public string LogFile => Path.Combine(_options.DataDirectory, "postgres.log");

    public string BinDirectory => _bin;

    public string ConnectionString(string database = DatabaseName) =>
        $"Host={SocketDirectory};Username={Role};Database={database};Pooling=true;Maximum Pool Size=100;Timeout=15;Command Timeout=60";

    /// <summary>Creates (if needed) and starts the cluster, and ensures the <c>kiln</c> database exists.</summary>
    public static async Task<LocalPostgresCluster> StartAsync(LocalPostgresOptions options, ILogger logger, CancellationToken ct = default)
    {
        var bin = PostgresBinaries.Find();
        var dataDir = Path.GetFullPath(options.DataDirectory);
        options = options with { DataDirectory = dataDir };
        if (Path.Combine(dataDir, "run", ".s.PGSQL.5432").Length > 100)
        {
            throw new ManagedPostgresException($"The data directory path '{dataDir}' is too long for a Unix socket; choose a shorter --data-dir.");
        }
        var cluster = new LocalPostgresCluster(options, bin, logger);
        await cluster.InitAndStartAsync(ct);
        return cluster;
    }

    private bool RunAsOtherUser => IsRoot && _options.RootRunsAs.Length > 0;

    private static bool IsRoot => !OperatingSystem.IsWindows() && Environment.UserName == "root";

    private async Task InitAndStartAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(_options.DataDirectory);
        // Connections on the socket are trusted, so the socket must be reachable only by the cluster's
        // user (and root): the directory is 0700, owned by the cluster's user. Set on every start, so a
        // cluster created by an older Kiln (0755) is closed too, even when adopted while running.
        Directory.CreateDirectory(SocketDirectory);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(SocketDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        if (RunAsOtherUser)
        {
            await RunAsync("chown", ["-R", $"{_options.RootRunsAs}:", _options.DataDirectory], asClusterUser: false, ct);
            // The cluster user must be able to reach its directory through every parent.
            var probe = await RunAsync("test", ["-w", _options.DataDirectory], asClusterUser: true, ct, throwOnError: false);
            if (probe.ExitCode != 0)
            {
                throw new ManagedPostgresException(
                    $"Kiln runs as root, so its PostgreSQL runs as '{_options.RootRunsAs}', who cannot reach '{_options.DataDirectory}'. " +
                    "Choose a data directory outside root-only folders, e.g. --data-dir /var/lib/kiln.");
            }
        }

        if (!File.Exists(Path.Combine(PgData, "PG_VERSION")))
        {
            LogInitializing(_logger, PgData);
            await RunAsync(Path.Combine(_bin, "initdb"),
                ["-D", PgData, "-U", Role, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"],
                asClusterUser: true, ct);
            await File.AppendAllTextAsync(Path.Combine(PgData, "postgresql.conf"), ConfigText(), ct);
            if (RunAsOtherUser)
            {
                await RunAsync("chown", [$"{_options.RootRunsAs}:", Path.Combine(PgData, "postgresql.conf")], asClusterUser: false, ct);
            }
        }

        var status = await RunAsync(Path.Combine(_bin, "pg_ctl"), ["status", "-D", PgData], asClusterUser: true, ct, throwOnError: false);
        if (status.ExitCode == 0)
        {
            LogAdopted(_logger, PgData);
        }
        else
        {
            var started = await RunAsync(Path.Combine(_bin, "pg_ctl"),
                ["start", "-w", "-t", "60", "-D", PgData, "-l", LogFile, "-o", $"-k {SocketDirectory} -c listen_addresses='' -c unix_socket_permissions=0700"],
                asClusterUser: true, ct, throwOnError: false);
            if (started.ExitCode != 0)
            {
                var tail = File.Exists(LogFile) ? string.Join('\n', File.ReadLines(LogFile).TakeLast(10)) : "";
                throw new ManagedPostgresException($"PostgreSQL did not start ({started.Output.Trim()}). Server log {LogFile}:\n{tail}");
            }
            _startedByUs = true;
            LogStarted(_logger, SocketDirectory);
        }

        await using var conn = new Npgsql.NpgsqlConnection(ConnectionString("postgres"));
        await conn.OpenAsync(ct);
        await using var exists = new Npgsql.NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", conn) { Parameters = { new() { Value = DatabaseName } } };
        if (await exists.ExecuteScalarAsync(ct) is null)
        {
            await using var create = new Npgsql.NpgsqlCommand($"CREATE DATABASE {DatabaseName}", conn);
            await create.ExecuteNonQueryAsync(ct);
        }
    }

    private string ConfigText()
    {
        var lines = new List<string>
        {
            "",
            "# Written by Kiln for its managed cluster.",
            "listen_addresses = ''",
            $"max_connections = {_options.MaxConnections}",
            "shared_buffers = 256MB",
            "log_min_duration_statement = 2000",
            "log_lock_waits = on",
            "deadlock_timeout = 1s",
            // Kiln's statements are short; compiling them costs more than running them.
            "jit = off",
        };
        if (_options.Ephemeral)
        {
            lines.AddRange(["fsync = off", "synchronous_commit = off", "full_page_writes = off"]);
        }
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>Stops the cluster if this process started it (fast shutdown: sessions are closed, data is safe).</summary>
    public async Task StopAsync()
    {
        if (!_startedByUs)
        {
            return;
        }
        _startedByUs = false;
        Npgsql.NpgsqlConnection.ClearAllPools();
        await RunAsync(Path.Combine(_bin, "pg_ctl"), ["stop", "-w", "-m", "fast", "-D", PgData], asClusterUser: true, CancellationToken.None, throwOnError: false);
        LogStopped(_logger, PgData);
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    private async Task<(int ExitCode, string Output)> RunAsync(
        string program, IReadOnlyList<string> args, bool asClusterUser, CancellationToken ct, bool throwOnError = true)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asClusterUser && RunAsOtherUser)
        {
            psi.FileName = "runuser";
            foreach (var a in (string[])["-u", _options.RootRunsAs, "--", program])
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi.FileName = program;
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        // Run from a directory every user can read: runuser keeps the working directory.
        psi.WorkingDirectory = "/";
        using var process = Process.Start(psi) ?? throw new ManagedPostgresException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var output = await stdout + await stderr;
        if (throwOnError && process.ExitCode != 0)
        {
            throw new ManagedPostgresException($"{Path.GetFileName(program)} {string.Join(' ', args)} failed with exit code {process.ExitCode}: {output.Trim()}");
        }
        return (process.ExitCode, output);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Creating the managed PostgreSQL cluster in {PgData}")]
    private static partial void LogInitializing(ILogger logger, string pgData);

    [LoggerMessage(Level = LogLevel.Information, Message = "Managed PostgreSQL started; socket in {SocketDirectory}")]
    private static partial void LogStarted(ILogger logger, string socketDirectory);

    [LoggerMessage(Level = LogLevel.Information, Message = "Adopted the managed PostgreSQL already running in {PgData}")]
    private static partial void LogAdopted(ILogger logger, string pgData);

    [LoggerMessage(Level = LogLevel.Information, Message = "Managed PostgreSQL in {PgData} stopped")]
    private static partial void LogStopped(ILogger logger, string pgData);
}

/// <summary>The managed cluster could not be set up; the message says what to do.</summary>
public sealed class ManagedPostgresException(string message) : Exception(message);
