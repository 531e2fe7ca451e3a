using System.Runtime.InteropServices;

namespace Kiln.Worker;

/// <summary>The few POSIX calls .NET does not offer: signalling a whole process group.</summary>
internal static partial class Posix
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    private const int ESRCH = 3;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LChown(string path, int uid, int gid);

    /// <summary>Gives <paramref name="root"/> and everything below it to uid/gid <paramref name="id"/>; symlinks are not followed.</summary>
    public static void ChownTree(string root, int id)
    {
        foreach (var path in System.IO.Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Prepend(root))
        {
            if (LChown(path, id, id) != 0)
            {
                throw new IOException($"chown {id} {path}: errno {Marshal.GetLastPInvokeError()}");
            }
        }
    }

    /// <summary>Gives one path (not following a link) to uid/gid <paramref name="id"/>.</summary>
    public static void Chown(string path, int id)
    {
        if (LChown(path, id, id) != 0)
        {
            throw new IOException($"chown {id} {path}: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Sends <paramref name="signal"/> to every process of group <paramref name="pgid"/>; false when the group is gone.</summary>
    public static bool SignalGroup(int pgid, int signal) => pgid > 1 && (Kill(-pgid, signal) == 0 || Marshal.GetLastPInvokeError() != ESRCH);

    /// <summary>Sends <paramref name="signal"/> to one process; false when it is gone.</summary>
    public static bool Signal(int pid, int signal) => pid > 1 && Kill(pid, signal) == 0;

    /// <summary>True while any process (even one exited but not yet reaped) is in the group.</summary>
    public static bool GroupExists(int pgid) => SignalGroup(pgid, 0);

    /// <summary>Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), to tell a reused pid apart.</summary>
    public static long? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may contain spaces; fields after it follow the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[19], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
