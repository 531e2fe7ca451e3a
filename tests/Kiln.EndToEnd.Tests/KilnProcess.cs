using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Kiln.EndToEnd.Tests;

/// <summary>A real <c>kiln</c> process (server, worker or a client command) with its output kept for failure messages.</summary>
public sealed partial class KilnProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private KilnProcess(Process process, string description)
    {
        _process = process;
        Description = description;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { _output.Enqueue(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _output.Enqueue(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string CliPath { get; } = Metadata("KilnCli");

    public static string RepositoryRoot { get; } = Path.GetFullPath(Metadata("RepositoryRoot"));

    public string Description { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The process's standard input (a pipe, not a terminal).</summary>
    public StreamWriter StandardInput => _process.StandardInput;

    public string Output => string.Join('\n', _output);

    public static KilnProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepositoryRoot,
        };
        var list = args.ToList();
        Prepare(psi, list, env);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start");
        return new KilnProcess(process, "kiln " + string.Join(' ', list));
    }

    /// <summary>
    /// The one clean environment every kiln process of the tests gets: no KILN_* setting of the
    /// machine's leaks in, no config file is found, a client command run with <c>--server URL</c>
    /// signs in as that test server's admin (<see cref="Kiln.Testing.AdminTokens"/>), and then
    /// <paramref name="env"/> applies.
    /// </summary>
    private static void Prepare(ProcessStartInfo psi, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env)
    {
        psi.ArgumentList.Add(CliPath);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        // Where the PostgreSQL binaries are is the machine's, not a setting under test.
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("KILN_", StringComparison.Ordinal) && k != "KILN_PG_BIN").ToList())
        {
            psi.Environment.Remove(name);
        }
        psi.Environment["KILN_CONFIG"] = "/nonexistent/kiln-config.json";
        if (Kiln.Testing.AdminTokens.ForCommandLine([.. psi.ArgumentList.Skip(1)]) is { } admin)
        {
            psi.Environment["KILN_TOKEN"] = admin;
        }
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
    }

    /// <summary>
    /// Runs a client command to its end (bounded), with standard output and standard error apart
    /// (for checking that <c>--json</c> output stays clean and errors are one line), in the same
    /// clean environment as <see cref="Start"/> plus <paramref name="env"/>.
    /// </summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunSplitAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        Prepare(psi, args, env);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(bound.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a client command to its end (bounded) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        await using var process = Start(args);
        await process.WaitForExitAsync(TimeSpan.FromMinutes(3));
        return (process.ExitCode, process.Output);
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Description} did not exit within {timeout}; output:\n{Output}");
        }
    }

    public void Signal(int signal) => _ = Kill(_process.Id, signal);

    /// <summary>SIGKILL to a whole process group (a task a killed worker left behind).</summary>
    public static void KillGroup(int pgid)
    {
        if (pgid > 1)
        {
            _ = Kill(-pgid, 9);
        }
    }

    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    private static string Metadata(string key) =>
        typeof(KilnProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
