using System.Diagnostics;
using System.Globalization;

namespace Kiln.Worker;

/// <summary>
/// A task's shell script running as a child process in its own session and process group
/// (via <c>setsid</c>), so that stopping it reaches everything it started: SIGTERM to the group,
/// then SIGKILL after a grace period. Its standard output and error go, appended, to the spool
/// file the log shipper reads; nothing of it passes through this process's memory.
/// </summary>
internal sealed class TaskProcess : IDisposable
{
    /// <summary>bash with -e and pipefail, like most CI systems: a failing command fails the task.</summary>
    private const string Launcher = "exec /bin/bash --noprofile --norc -eo pipefail \"$0\" >>\"$1\" 2>&1 </dev/null";

    private readonly Process _process;

    private TaskProcess(Process process, string pidFile)
    {
        _process = process;
        ProcessGroup = process.Id;
        // Remembered on disk so that a restarted worker can kill what a killed one left running.
        File.WriteAllText(pidFile, $"{ProcessGroup} {Posix.StartTime(ProcessGroup)}");
    }

    /// <summary>The process group (= the child's pid, as session leader).</summary>
    public int ProcessGroup { get; }

    /// <param name="uid">Run as this uid and gid (supplementary groups cleared), through <c>setpriv</c>; null: as the worker's user.</param>
    public static TaskProcess Start(string script, string workingDirectory, string spool, string pidFile, IReadOnlyDictionary<string, string> environment, int? uid = null)
    {
        string[] asUser = uid is { } id
            ? ["setpriv", $"--reuid={id}", $"--regid={id}", "--clear-groups", "--"]
            : [];
        return StartCommand([.. asUser, "/bin/sh", "-c", Launcher, script, spool], workingDirectory, pidFile, environment, cleanEnvironment: false);
    }

    /// <summary>
    /// Starts <paramref name="command"/> under <c>setsid</c> (it redirects its own output).
    /// <paramref name="cleanEnvironment"/>: the child gets <paramref name="environment"/> only, nothing of the worker's.
    /// </summary>
    public static TaskProcess StartCommand(IReadOnlyList<string> command, string workingDirectory, string pidFile, IReadOnlyDictionary<string, string> environment, bool cleanEnvironment)
    {
        var psi = new ProcessStartInfo("setsid") { WorkingDirectory = workingDirectory, UseShellExecute = false };
        foreach (var arg in command)
        {
            psi.ArgumentList.Add(arg);
        }
        if (cleanEnvironment)
        {
            psi.Environment.Clear();
        }
        // The worker's own credentials are not the task's business.
        foreach (var secret in WorkerSecrets.Names)
        {
            psi.Environment.Remove(secret);
        }
        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }
        var process = ProcessSpawner.Start(psi);
        return new TaskProcess(process, pidFile);
    }

    /// <summary>Exit code; 128 + n when ended by signal n.</summary>
    public int ExitCode => _process.ExitCode;

    public Task WaitForExitAsync(CancellationToken ct) => _process.WaitForExitAsync(ct);

    /// <summary>
    /// Stops the whole group: SIGTERM, then SIGKILL to whatever is left after <paramref name="grace"/>,
    /// and waits for the script's own process to end.
    /// </summary>
    public async Task StopAsync(TimeSpan grace, TimeProvider time)
    {
        Posix.SignalGroup(ProcessGroup, Posix.SIGTERM);
        var deadline = time.GetUtcNow() + grace;
        while (time.GetUtcNow() < deadline && (!_process.HasExited || Posix.GroupExists(ProcessGroup)))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), time);
        }
        Posix.SignalGroup(ProcessGroup, Posix.SIGKILL);
        await _process.WaitForExitAsync();
    }

    /// <summary>After the script ended: kill anything it left running in the background (a task leaves no orphans).</summary>
    public void KillLeftovers() => Posix.SignalGroup(ProcessGroup, Posix.SIGKILL);

    /// <summary>Kills process groups recorded by tasks of an earlier, killed worker process in <paramref name="tasksDirectory"/>.</summary>
    /// <returns>How many groups were still running.</returns>
    public static int KillOrphans(string tasksDirectory, string pidFileName)
    {
        var killed = 0;
        if (!Directory.Exists(tasksDirectory))
        {
            return 0;
        }
        foreach (var pidFile in Directory.EnumerateFiles(tasksDirectory, pidFileName, SearchOption.AllDirectories))
        {
            var parts = File.ReadAllText(pidFile).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var pgid)
                && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var started)
                && Posix.StartTime(pgid) == started && Posix.SignalGroup(pgid, Posix.SIGKILL))
            {
                killed++;
            }
        }
        return killed;
    }

    public void Dispose() => _process.Dispose();
}
