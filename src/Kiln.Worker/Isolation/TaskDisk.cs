using Kiln.Contracts;
using System.Globalization;

namespace Kiln.Worker.Isolation;

/// <summary>
/// The writable part of a job in an environment (overlay upper and work directories, <c>/kiln/work</c>, the result
/// file) on a filesystem of its own that really refuses writes past <see cref="JobLimits.DiskBytes"/> (ENOSPC):
/// a sparse ext4 image in the task directory, loop-mounted (it takes only the blocks written). Where loop devices
/// are refused, a tmpfs of that size (then written bytes count against the job's memory, as tmpfs pages do).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class TaskDisk
{
    private TaskDisk(string mountPoint, string? image, string kind)
    {
        MountPoint = mountPoint;
        Image = image;
        Kind = kind;
    }

    public string MountPoint { get; }

    public string? Image { get; }

    /// <summary>"ext4 image" or "tmpfs", for the log.</summary>
    public string Kind { get; }

    /// <summary>Makes and mounts the job's disk at <paramref name="mountPoint"/>, its root owned by host id <paramref name="owner"/> (the job's root).</summary>
    public static TaskDisk Mount(string mountPoint, string image, long bytes, int owner)
    {
        Directory.CreateDirectory(mountPoint);
        var size = Math.Max(bytes, 16L << 20);
        using (var file = new FileStream(image, FileMode.Create, FileAccess.Write))
        {
            file.SetLength(size);
        }
        var (made, _) = HostCommand.Run("/usr/sbin/mkfs.ext4", ["-q", "-F", "-m", "0", "-O", "^has_journal", "-E", $"lazy_itable_init=1,root_owner={owner}:{owner}", image]);
        if (made == 0 && HostCommand.Run("/usr/bin/mount", ["-o", "loop,nodev,nosuid", image, mountPoint]).ExitCode == 0)
        {
            return new TaskDisk(mountPoint, image, "ext4 image");
        }
        File.Delete(image);
        HostCommand.Check("/usr/bin/mount", "-t", "tmpfs", "-o", $"size={size.ToString(CultureInfo.InvariantCulture)},nodev,nosuid,mode=0755,uid={owner},gid={owner}", "tmpfs", mountPoint);
        return new TaskDisk(mountPoint, null, "tmpfs");
    }

    /// <summary>Unmounts (lazily if something still holds it) and deletes the image.</summary>
    public async Task UnmountAsync(TimeProvider time)
    {
        // The job's root, when the worker mounted its overlay in the host's namespace (IsolatedLaunch), goes first.
        var root = Path.Combine(MountPoint, "root");
        if (File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ') is { Length: > 4 } f && f[4] == root))
        {
            HostCommand.Run("/usr/bin/umount", ["-l", root]);
        }
        // The job's last processes may still be exiting (their mount namespace holds the disk): a few tries, then lazily.
        for (var attempt = 0; attempt < 50; attempt++)
        {
            if (HostCommand.Run("/usr/bin/umount", [MountPoint]).ExitCode == 0)
            {
                break;
            }
            if (attempt == 49)
            {
                HostCommand.Run("/usr/bin/umount", ["-l", MountPoint]);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), time);
        }
        if (Image is not null)
        {
            File.Delete(Image);
        }
    }

    /// <summary>At worker start: unmounts whatever an earlier, killed worker left mounted under <paramref name="directory"/>, deepest first.</summary>
    /// <returns>How many mounts were undone.</returns>
    public static int UnmountLeftovers(string directory)
    {
        var prefix = Path.GetFullPath(directory).TrimEnd('/') + "/";
        var mounts = File.ReadLines("/proc/self/mountinfo")
            .Select(l => l.Split(' '))
            .Where(f => f.Length > 4)
            .Select(f => Unescape(f[4]))
            .Where(m => m.StartsWith(prefix, StringComparison.Ordinal))
            .Distinct()
            .OrderByDescending(m => m.Length)
            .ToList();
        foreach (var mount in mounts)
        {
            HostCommand.Run("/usr/bin/umount", ["-l", mount]);
        }
        return mounts.Count;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as octal.</summary>
    private static string Unescape(string field) =>
        System.Text.RegularExpressions.Regex.Replace(field, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());
}
