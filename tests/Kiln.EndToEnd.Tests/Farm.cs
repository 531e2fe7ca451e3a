using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A farm made of real processes: <c>kiln server</c> on a fresh database of the test cluster and
/// a free port on 127.0.0.1, and <c>kiln worker</c>s, each with its own work directory. The server
/// can be killed and started again on the same port and data directory.
/// </summary>
public sealed class Farm : IAsyncDisposable
{
    public const string Token = "e2e-registration-token";
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly string _connectionString;
    private readonly int _leaseSeconds;
    private int? _leadershipSeconds;
    private readonly List<KilnProcess> _workers = [];

    private Farm(string connectionString, string directory, int port, int leaseSeconds)
    {
        _connectionString = connectionString;
        Directory = directory;
        Url = $"http://127.0.0.1:{port}";
        _leaseSeconds = leaseSeconds;
        Client = new KilnClient(new Uri(Url));
    }

    public string Url { get; }

    public string Directory { get; }

    public KilnClient Client { get; }

    public KilnProcess? Server { get; private set; }

    /// <summary>The farm's database, for setting up what no API makes yet.</summary>
    public string ConnectionString => _connectionString;

    /// <summary>The server's data directory (<c>logs/</c>, <c>artifacts/</c>).</summary>
    public string ServerDataDirectory => Path.Combine(Directory, "server");

    /// <param name="leadershipSeconds">The server's <c>--leadership-seconds</c> (unset: its default): short for tests that kill the leader.</param>
    public static async Task<Farm> StartAsync(string name, int leaseSeconds = 10, int? leadershipSeconds = null)
    {
        var connectionString = await TestCluster.CreateDatabaseAsync(name);
        var directory = System.IO.Directory.CreateTempSubdirectory($"kiln-e2e-{name}-").FullName;
        // Passable by others, as a worker's directory must be for jobs in environments (their root is a mapped, unprivileged id).
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        }
        var farm = new Farm(connectionString, directory, FreePort(), leaseSeconds) { _leadershipSeconds = leadershipSeconds };
        await farm.StartServerAsync();
        return farm;
    }

    /// <param name="env">Extra environment of the server process (a test's fault switch).</param>
    public async Task StartServerAsync(IReadOnlyDictionary<string, string>? env = null)
    {
        Server = KilnProcess.Start([
            "server", "--database", _connectionString, "--urls", Url, "--data-dir", ServerDataDirectory,
            "--worker-token", Token, "--lease-seconds", _leaseSeconds.ToString(CultureInfo.InvariantCulture), "--heartbeat-seconds", "1",
            .. (_leadershipSeconds is { } leadership ? new[] { "--leadership-seconds", leadership.ToString(CultureInfo.InvariantCulture) } : [])], env);
        await Eventually.TrueAsync(async () =>
        {
            if (Server.HasExited)
            {
                throw new InvalidOperationException($"the server exited with {Server.ExitCode}:\n{Server.Output}");
            }
            try
            {
                await Client.ListWorkersAsync(1, null, CancellationToken.None);
                return true;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, Patience, "the server to answer");
        // The first start made the farm's first admin and left its token in the data directory.
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(ServerDataDirectory, "admin-token"))).Trim();
        Client.Bearer = AdminToken;
        AdminTokens.Register(Url, AdminToken);
    }

    /// <summary>The farm's first admin's token (client commands run with <c>--server</c> use it: <see cref="AdminTokens"/>).</summary>
    public string AdminToken { get; private set; } = "";

    /// <summary>A worker process; the registration token goes in its environment (as a packager would), never in argv.</summary>
    public KilnProcess StartWorker(string name, int slots = 1, int prefetch = 0, params string[] options)
    {
        var worker = KilnProcess.Start([
            "worker", "--server", Url, "--name", name, "--slots", slots.ToString(CultureInfo.InvariantCulture),
            "--prefetch", prefetch.ToString(CultureInfo.InvariantCulture), "--work-dir", WorkDirectory(name), .. options],
            new Dictionary<string, string> { ["KILN_TOKEN"] = Token });
        _workers.Add(worker);
        return worker;
    }

    public string WorkDirectory(string workerName) => Path.Combine(Directory, "workers", workerName);

    public Task<SubmitWorkflowResponse> SubmitAsync(string name, string run, Action<JobDocumentBuilder>? configure = null)
    {
        var job = new JobDocumentBuilder(run);
        configure?.Invoke(job);
        return Client.SubmitAsync(new WorkflowDocument { Name = name, Jobs = new() { ["job"] = job.Build() } }, CancellationToken.None);
    }

    public async Task<WorkflowView> WaitForWorkflowAsync(long id)
    {
        WorkflowView? view = null;
        await Eventually.TrueAsync(async () =>
        {
            view = await Client.GetWorkflowAsync(id, CancellationToken.None);
            return view.State != "running";
        }, Patience, $"workflow {id} to finish", Diagnostics);
        return view!;
    }

    public async Task<long> OnlyJobAsync(long workflowId) => (await Client.GetWorkflowAsync(workflowId, CancellationToken.None)).Jobs!.Single().Id;

    public async Task<string> LogAsync(long workRequestId, int? attempt = null)
    {
        using var buffer = new MemoryStream();
        await Client.ReadLogAsync(workRequestId, attempt, 0, 0, buffer, CancellationToken.None);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public Task WaitForLogAsync(long workRequestId, string text) =>
        Eventually.TrueAsync(async () => (await LogAsync(workRequestId)).Contains(text, StringComparison.Ordinal), Patience,
            $"'{text}' in the log of work request {workRequestId}", Diagnostics);

    public string Diagnostics() =>
        $"server:\n{Server?.Output}\n" + string.Join('\n', _workers.Select(w => $"{w.Description}:\n{w.Output}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }
        // Tasks of workers killed on purpose outlive them (own process groups): end them too.
        foreach (var pidFile in System.IO.Directory.EnumerateFiles(Path.Combine(Directory), "pgid", SearchOption.AllDirectories))
        {
            if (int.TryParse(File.ReadAllText(pidFile).Split(' ')[0], CultureInfo.InvariantCulture, out var pgid))
            {
                KilnProcess.KillGroup(pgid);
            }
        }
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
        Client.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A straggler still writing; /tmp is cleaned eventually.
        }
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Builds the one job of a test workflow.</summary>
public sealed class JobDocumentBuilder(string run)
{
    private readonly Dictionary<string, string> _env = [];
    private int _timeout = 300;
    private int _maxAttempts = 3;
    private List<string> _outputs = [];
    private string? _environment;

    /// <summary>Runs the job in an environment (a fresh copy, isolated) instead of on the worker's host.</summary>
    public JobDocumentBuilder Environment(string name)
    {
        _environment = name;
        return this;
    }

    public JobDocumentBuilder Env(string name, string value)
    {
        _env[name] = value;
        return this;
    }

    public JobDocumentBuilder Timeout(int seconds)
    {
        _timeout = seconds;
        return this;
    }

    public JobDocumentBuilder MaxAttempts(int attempts)
    {
        _maxAttempts = attempts;
        return this;
    }

    public JobDocumentBuilder Outputs(params string[] globs)
    {
        _outputs = [.. globs];
        return this;
    }

    public JobDocument Build() => new()
    {
        Run = run,
        Env = _env,
        Timeout = _timeout,
        Outputs = _outputs,
        Environment = _environment,
        // No backoff: a requeued attempt is claimable at once, so tests wait for behaviour, not for a timer.
        Retry = new RetryPolicyDocument { MaxAttempts = _maxAttempts, BackoffSeconds = 0 },
    };
}
