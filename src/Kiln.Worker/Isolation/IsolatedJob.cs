using Kiln.Contracts;
using Microsoft.Extensions.Logging;

namespace Kiln.Worker.Isolation;

/// <summary>
/// One job in an environment, from its own disk and cgroup to their removal: <see cref="Prepare"/> makes the
/// job's directory <c>&lt;work&gt;/jobs/&lt;task&gt;/</c> (its disk, limited to <see cref="JobLimits.DiskBytes"/>), its cgroup
/// and the launch scripts; the worker then downloads the inputs into <see cref="WorkDirectory"/> and starts
/// <see cref="Command"/>. <see cref="KillAllAsync"/> ends every process of the job (the cgroup's list, which a
/// double fork does not leave); <see cref="Dispose"/> unmounts and deletes what is left. A worker killed before that
/// leaves cgroups and mounts that <see cref="CleanLeftoversAsync"/> removes at the next start.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class IsolatedJob : IAsyncDisposable
{
    private readonly TaskDisk _disk;
    private readonly JobCgroup? _cgroup;
    private readonly TimeProvider _time;
    private bool _disposed;

    private IsolatedJob(TaskDisk disk, JobCgroup? cgroup, string[] command, TimeProvider time)
    {
        _disk = disk;
        _cgroup = cgroup;
        Command = command;
        _time = time;
    }

    /// <summary>The job's <c>/kiln/work</c> as the worker sees it: inputs go here, outputs are matched here.</summary>
    public string WorkDirectory => Path.Combine(_disk.MountPoint, "kiln", "work");

    /// <summary>The job's <c>/kiln</c>: the result file and the script are here.</summary>
    public string KilnDirectory => Path.Combine(_disk.MountPoint, "kiln");

    public string ScriptFile => Path.Combine(KilnDirectory, "script.sh");

    public string[] Command { get; }

    /// <summary>How its limits are enforced, for the log: "cgroup v1", "cgroup v2" or "rlimits".</summary>
    public string LimitsBy => _cgroup is null ? "rlimits" : _cgroup.V2 ? "cgroup v2" : "cgroup v1";

    public string DiskKind => _disk.Kind;

    public string RootMode => IsolatedLaunch.RootMode(_disk.MountPoint);

    /// <summary>The directory of one worker's environment jobs (each job's disk is mounted below it).</summary>
    public static string JobsDirectory(string workDirectory) => Path.Combine(workDirectory, "jobs");

    public static async Task<IsolatedJob> PrepareAsync(WorkerOptions options, string taskDirectory, string taskName, EnvironmentLease environment, JobExecution execution,
        SubordinateIds ids, ILogger logger, long workRequestId, TimeProvider time)
    {
        var limits = execution.Limits ?? JobLimits.Default;
        var jobs = JobsDirectory(options.WorkDirectory);
        // Passable by the job's mapped root (which must reach its own directory below), listable by no one else.
        Directory.CreateDirectory(jobs);
        File.SetUnixFileMode(jobs, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(options.WorkDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        var disk = TaskDisk.Mount(Path.Combine(jobs, taskName), Path.Combine(taskDirectory, "disk.img"), limits.DiskBytes, ids.Start);
        JobCgroup? cgroup = null;
        try
        {
            IsolatedLaunch.Lay(disk.MountPoint, ids.Start);
            var (group, problem) = JobCgroup.Create(JobCgroup.WorkerGroup(options.WorkDirectory), taskName, limits);
            if (group is null)
            {
                IsolationLog.NoCgroup(logger, workRequestId, problem!);
            }
            cgroup = group;
            var command = IsolatedLaunch.Write(taskDirectory, disk.MountPoint, environment.Root, ids, cgroup, limits, execution.Network);
            return new IsolatedJob(disk, cgroup, command, time);
        }
        catch
        {
            if (cgroup is not null)
            {
                await cgroup.DestroyAsync(time);
            }
            await disk.UnmountAsync(time);
            throw;
        }
    }

    /// <summary>Why the job's limits stopped it, if they did (the kernel's own counters), else null.</summary>
    public string? LimitHit(JobLimits limits)
    {
        if (_cgroup is null)
        {
            return null;
        }
        if (_cgroup.OomKills() > 0)
        {
            return $"the job reached its memory limit ({limits.MemoryBytes} bytes, requires.memory) and the kernel killed a process of it";
        }
        return _cgroup.HitProcessLimit()
            ? $"the job reached its process limit ({limits.Processes}, requires.processes); forks beyond it were refused"
            : null;
    }

    /// <summary>True when the job's disk is (nearly) full: its writes were refused past requires.disk.</summary>
    public bool DiskFull()
    {
        try
        {
            var drive = new DriveInfo(_disk.MountPoint);
            return drive.AvailableFreeSpace < Math.Max(1 << 20, drive.TotalSize / 100);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Kills every process of the job (its cgroup), waiting until none is left.</summary>
    public Task KillAllAsync() => _cgroup?.DestroyAsync(_time) ?? Task.CompletedTask;

    /// <summary>At worker start: what an earlier, killed worker left of its environment jobs (cgroups, mounts, directories).</summary>
    public static async Task CleanLeftoversAsync(string workDirectory, ILogger logger, TimeProvider time)
    {
        var processes = await JobCgroup.CleanLeftoversAsync(JobCgroup.WorkerGroup(workDirectory), time);
        var mounts = Directory.Exists(workDirectory) ? TaskDisk.UnmountLeftovers(workDirectory) : 0;
        var jobs = JobsDirectory(workDirectory);
        if (Directory.Exists(jobs))
        {
            Directory.Delete(jobs, recursive: true);
        }
        if (processes > 0 || mounts > 0)
        {
            IsolationLog.CleanedLeftovers(logger, processes, mounts, workDirectory);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        try
        {
            await KillAllAsync();
        }
        finally
        {
            await _disk.UnmountAsync(_time);
        }
        try
        {
            Directory.Delete(_disk.MountPoint, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Cleaned at the next start.
        }
    }
}
