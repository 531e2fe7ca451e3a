using Kiln.Contracts;
using System.Globalization;

namespace Kiln.Worker.Isolation;

/// <summary>
/// A job's own control group, <c>kiln/&lt;worker&gt;/&lt;task&gt;</c>: its memory and process limits, and the list of
/// every process it started (even one that double-forked out of its process group), killed at teardown.
/// cgroup v2 (<c>/sys/fs/cgroup/cgroup.controllers</c> exists): one directory with <c>memory.max</c>, <c>pids.max</c>.
/// cgroup v1: one directory under each of the <c>memory</c> and <c>pids</c> hierarchies (<c>memory.limit_in_bytes</c>, <c>pids.max</c>).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class JobCgroup
{
    private const string Root = "/sys/fs/cgroup";

    private JobCgroup(IReadOnlyList<string> directories, bool v2)
    {
        Directories = directories;
        V2 = v2;
    }

    /// <summary>The cgroup directories the job's processes join (one on v2; memory and pids on v1).</summary>
    public IReadOnlyList<string> Directories { get; }

    public bool V2 { get; }

    /// <summary>The <c>cgroup.procs</c> files a launcher writes its pid into before it starts the job.</summary>
    public IEnumerable<string> ProcsFiles => Directories.Select(d => System.IO.Path.Combine(d, "cgroup.procs"));

    /// <summary>The cgroup parent of one worker's jobs (by its work directory, so two workers on a host never clean each other's).</summary>
    public static string WorkerGroup(string workDirectory) =>
        "kiln/w" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(workDirectory)))[..12];

    /// <summary>Makes the job's cgroup with its limits, or returns null (with why) when no cgroup is writable here.</summary>
    public static (JobCgroup? Group, string? Problem) Create(string workerGroup, string task, JobLimits limits)
    {
        try
        {
            if (File.Exists(System.IO.Path.Combine(Root, "cgroup.controllers")))
            {
                var dir = System.IO.Path.Combine(Root, workerGroup, task);
                EnableControllers(System.IO.Path.Combine(Root, workerGroup));
                Directory.CreateDirectory(dir);
                File.WriteAllText(System.IO.Path.Combine(dir, "memory.max"), limits.MemoryBytes.ToString(CultureInfo.InvariantCulture));
                TryWrite(System.IO.Path.Combine(dir, "memory.swap.max"), "0");
                File.WriteAllText(System.IO.Path.Combine(dir, "pids.max"), limits.Processes.ToString(CultureInfo.InvariantCulture));
                return (new JobCgroup([dir], v2: true), null);
            }
            var memory = System.IO.Path.Combine(Root, "memory", workerGroup, task);
            var pids = System.IO.Path.Combine(Root, "pids", workerGroup, task);
            if (!Directory.Exists(System.IO.Path.Combine(Root, "memory")) || !Directory.Exists(System.IO.Path.Combine(Root, "pids")))
            {
                return (null, "neither a cgroup v2 hierarchy nor cgroup v1 memory and pids controllers are mounted under /sys/fs/cgroup");
            }
            Directory.CreateDirectory(memory);
            Directory.CreateDirectory(pids);
            File.WriteAllText(System.IO.Path.Combine(memory, "memory.limit_in_bytes"), limits.MemoryBytes.ToString(CultureInfo.InvariantCulture));
            TryWrite(System.IO.Path.Combine(memory, "memory.memsw.limit_in_bytes"), limits.MemoryBytes.ToString(CultureInfo.InvariantCulture));
            File.WriteAllText(System.IO.Path.Combine(pids, "pids.max"), limits.Processes.ToString(CultureInfo.InvariantCulture));
            return (new JobCgroup([memory, pids], v2: false), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"cannot make a cgroup for the job ({e.Message})");
        }
    }

    /// <summary>Times the job hit its memory limit and the kernel killed a process of it (0 when unknown).</summary>
    public long OomKills()
    {
        var file = V2 ? System.IO.Path.Combine(Directories[0], "memory.events") : System.IO.Path.Combine(Directories[0], "memory.oom_control");
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && parts[0] == "oom_kill" && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var count))
                {
                    return count;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only for the message.
        }
        return 0;
    }

    /// <summary>True when the job reached its process limit at least once.</summary>
    public bool HitProcessLimit()
    {
        var dir = V2 ? Directories[0] : Directories[1];
        try
        {
            var events = System.IO.Path.Combine(dir, "pids.events");
            return File.Exists(events) && File.ReadLines(events).Any(l => l.StartsWith("max ", StringComparison.Ordinal) && l != "max 0");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Kills every process in the job's cgroups until none is left, then removes them.</summary>
    public async Task DestroyAsync(TimeProvider time)
    {
        await KillAndRemoveAsync(Directories, time);
        foreach (var parent in Directories.Select(System.IO.Path.GetDirectoryName).OfType<string>())
        {
            try
            {
                // The worker's group goes with its last job (another running job keeps it: not empty).
                Directory.Delete(parent);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // In use by another job of this worker.
            }
        }
    }

    /// <summary>At worker start: kills what tasks of an earlier, killed worker left in their cgroups, and removes those.</summary>
    /// <returns>How many processes were killed.</returns>
    public static async Task<int> CleanLeftoversAsync(string workerGroup, TimeProvider time)
    {
        var parents = new[] { System.IO.Path.Combine(Root, workerGroup), System.IO.Path.Combine(Root, "memory", workerGroup), System.IO.Path.Combine(Root, "pids", workerGroup) };
        var killed = 0;
        foreach (var parent in parents.Where(Directory.Exists))
        {
            var tasks = Directory.GetDirectories(parent);
            killed += tasks.Sum(t => Pids(t).Count);
            await KillAndRemoveAsync(tasks, time);
        }
        return killed;
    }

    private static async Task KillAndRemoveAsync(IReadOnlyList<string> directories, TimeProvider time)
    {
        foreach (var dir in directories.Where(Directory.Exists))
        {
            var kill = System.IO.Path.Combine(dir, "cgroup.kill");
            if (File.Exists(kill))
            {
                TryWrite(kill, "1");
            }
            // A fork bomb forks while it is being killed: repeat until the group is empty (pids.max bounds each round).
            for (var round = 0; round < 600; round++)
            {
                var pids = Pids(dir);
                if (pids.Count == 0)
                {
                    break;
                }
                foreach (var pid in pids)
                {
                    Posix.Signal(pid, Posix.SIGKILL);
                }
                await Task.Delay(TimeSpan.FromMilliseconds(50), time);
            }
            for (var round = 0; round < 100; round++)
            {
                try
                {
                    Directory.Delete(dir);
                    break;
                }
                catch (IOException)
                {
                    // Busy until the last killed process is reaped.
                    await Task.Delay(TimeSpan.FromMilliseconds(50), time);
                }
            }
        }
    }

    private static List<int> Pids(string dir)
    {
        try
        {
            return [.. File.ReadAllLines(System.IO.Path.Combine(dir, "cgroup.procs")).Select(l => int.Parse(l, CultureInfo.InvariantCulture))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return [];
        }
    }

    /// <summary>v2: the parent must delegate memory and pids to its children (each level from the root down).</summary>
    private static void EnableControllers(string workerGroupDirectory)
    {
        var path = Root;
        foreach (var part in System.IO.Path.GetRelativePath(Root, workerGroupDirectory).Split('/'))
        {
            TryWrite(System.IO.Path.Combine(path, "cgroup.subtree_control"), "+memory +pids");
            path = System.IO.Path.Combine(path, part);
            Directory.CreateDirectory(path);
        }
        TryWrite(System.IO.Path.Combine(path, "cgroup.subtree_control"), "+memory +pids");
    }

    private static void TryWrite(string file, string value)
    {
        try
        {
            File.WriteAllText(file, value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Optional knob (swap accounting off, no cgroup.kill before Linux 5.14).
        }
    }
}
