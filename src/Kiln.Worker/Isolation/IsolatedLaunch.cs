using System.Globalization;
using System.Text;
using Kiln.Contracts;

namespace Kiln.Worker.Isolation;

/// <summary>
/// How a job in an environment is started, as two small shell scripts the worker writes into the task directory:
/// <c>launch.sh</c> runs as the worker (root), puts itself into the job's cgroups (or sets rlimits) and enters a
/// new user namespace mapped onto the subordinate ids (util-linux <c>unshare</c>) with its own mount namespace;
/// there, as the namespace's root, <c>enter.sh</c> mounts the job's root (overlayfs of the cached tree under a fresh
/// upper layer on the job's disk; a full copy when overlay is refused) and hands over to <c>bwrap</c>, which makes
/// the PID, IPC, UTS and (unless the job asks for the network) network namespaces, pivots into the root (the host's
/// filesystem is unmounted from the job's view), mounts <c>/proc</c> and a minimal <c>/dev</c>, binds the task's
/// <c>kiln/</c> directory at <c>/kiln</c> and runs the script in <c>/kiln/work</c>. The job keeps its capabilities in
/// its own user namespace only (so it may <c>apt-get install</c>, or <c>unshare -n</c> a step).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal static class IsolatedLaunch
{
    /// <summary>The PATH a job and the worker's own helper commands get.</summary>
    public const string Path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public const string JobWorkDirectory = "/kiln/work";
    public const string JobResultFile = "/kiln/result.json";

    /// <summary>The directories of a job on its disk (<paramref name="disk"/>), made and given to the job's root.</summary>
    public static void Lay(string disk, int owner)
    {
        Posix.Chown(disk, owner);
        File.SetUnixFileMode(disk, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var dir in new[] { "upper", "overlay-work", "root", "kiln", "kiln/work" })
        {
            var path = System.IO.Path.Combine(disk, dir);
            Directory.CreateDirectory(path);
            Posix.Chown(path, owner);
        }
    }

    /// <summary>Writes launch.sh and enter.sh into <paramref name="taskDirectory"/>; returns the command to start (under setsid).</summary>
    public static string[] Write(string taskDirectory, string disk, string lowerRoot, SubordinateIds ids, JobCgroup? cgroup, JobLimits limits, bool network)
    {
        var root = System.IO.Path.Combine(disk, "root");
        var enter = new StringBuilder();
        enter.Append("set -e\n");
        var layers = $"lowerdir={lowerRoot},upperdir={disk}/upper,workdir={disk}/overlay-work";
        // Mounted by the worker before the namespaces when it may (root): then with redirect_dir, without which
        // overlayfs refuses to rename a directory (EXDEV) and dpkg cannot install a package with a new directory.
        // Inside a user namespace overlayfs allows no redirect_dir: the namespace's own mount is the fallback.
        enter.Append(CultureInfo.InvariantCulture, $"if mountpoint -q {Quote(root)}; then\n  :\n");
        enter.Append(CultureInfo.InvariantCulture, $"elif mount -t overlay overlay -o {Quote(layers)} {Quote(root)} 2>/dev/null; then\n");
        enter.Append(CultureInfo.InvariantCulture, $"  echo overlay > {Quote(disk + "/mode")}\n");
        enter.Append("else\n");
        enter.Append("  echo '[kiln] overlayfs was refused here; copying the environment for this job (slower)'\n");
        enter.Append(CultureInfo.InvariantCulture, $"  cp -a {Quote(lowerRoot + "/.")} {Quote(root + "/")}\n");
        enter.Append(CultureInfo.InvariantCulture, $"  echo copy > {Quote(disk + "/mode")}\n");
        enter.Append("fi\n");
        if (network)
        {
            enter.Append(CultureInfo.InvariantCulture, $"rm -f {Quote(root + "/etc/resolv.conf")}; cp /etc/resolv.conf {Quote(root + "/etc/resolv.conf")} 2>/dev/null || true\n");
        }
        enter.Append(CultureInfo.InvariantCulture, $"mkdir -p {Quote(root + "/kiln")} {Quote(root + "/proc")} {Quote(root + "/dev")} {Quote(root + "/tmp")}\n");
        string[] bwrap =
        [
            "/usr/bin/bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", .. network ? Array.Empty<string>() : ["--unshare-net"],
            "--hostname", "kiln", "--bind", root, "/", "--bind", System.IO.Path.Combine(disk, "kiln"), "/kiln",
            "--proc", "/proc", "--dev", "/dev", "--chdir", JobWorkDirectory, "--",
            "/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "/kiln/script.sh",
        ];
        enter.Append("exec ").Append(string.Join(' ', bwrap.Select(Quote))).Append('\n');
        // On the job's disk (its own, 0700 to the job's root): the job's root cannot pass through the task directory.
        var enterFile = System.IO.Path.Combine(disk, "enter.sh");
        File.WriteAllText(enterFile, enter.ToString());

        var launch = new StringBuilder();
        launch.Append("exec >>\"$1\" 2>&1 </dev/null\n");
        string[] limit = [];
        if (cgroup is not null)
        {
            foreach (var procs in cgroup.ProcsFiles)
            {
                launch.Append(CultureInfo.InvariantCulture, $"echo $$ > {Quote(procs)}\n");
            }
        }
        else
        {
            limit = ["/usr/bin/prlimit", $"--nproc={limits.Processes}", $"--as={limits.MemoryBytes}"];
        }
        if (Environment.IsPrivilegedProcess)
        {
            launch.Append(CultureInfo.InvariantCulture,
                $"mount -t overlay overlay -o {Quote(layers + ",redirect_dir=on")} {Quote(root)} 2>/dev/null && echo overlay > {Quote(disk + "/mode")} || true\n");
        }
        string[] unshare = ["/usr/bin/unshare", .. ids.UnshareArguments(), "--mount", "--propagation", "private", "/bin/sh", enterFile];
        launch.Append("exec ").Append(string.Join(' ', limit.Concat(unshare).Select(Quote))).Append('\n');
        var launchFile = System.IO.Path.Combine(taskDirectory, "launch.sh");
        File.WriteAllText(launchFile, launch.ToString());
        return ["/bin/sh", launchFile];
    }

    /// <summary>How the job's root was made ("overlay" or "copy"), as enter.sh recorded it.</summary>
    public static string RootMode(string disk)
    {
        var file = System.IO.Path.Combine(disk, "mode");
        try
        {
            return File.Exists(file) ? File.ReadAllText(file).Trim() : "not made";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
