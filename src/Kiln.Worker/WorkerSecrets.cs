using System.Runtime.InteropServices;
using System.Text;

namespace Kiln.Worker;

/// <summary>
/// Keeps the worker's secrets away from its tasks, which run as the same user (unless --task-user-per-slot). The registration
/// token is read once (a file or the environment, never argv, which <c>ps</c> shows to everyone);
/// then it is wiped from this process's environment, including the block the kernel shows as
/// <c>/proc/&lt;pid&gt;/environ</c>, and the process is made non-dumpable (<c>PR_SET_DUMPABLE 0</c>),
/// so a process of the same user can neither read its <c>environ</c> or <c>mem</c> nor ptrace it.
/// Root can still do all of that: a task running as root reaches everything.
/// </summary>
public static partial class WorkerSecrets
{
    /// <summary>Environment variables holding secrets of the worker or the server.</summary>
    public static readonly IReadOnlyList<string> Names = ["KILN_TOKEN", "KILN_WORKER_TOKEN", "KILN_DATABASE_URL"];

    private const int PrSetDumpable = 4;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>Removes the secrets from this process's environment and makes it non-dumpable. Call after reading the token.</summary>
    /// <returns>Null when done; otherwise what could not be done (the worker still runs, and says so).</returns>
    public static string? Seal()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "not on Linux: the worker's environment and memory are not protected from its tasks";
        }
        foreach (var name in Names)
        {
            Environment.SetEnvironmentVariable(name, null);
        }
        var problem = WipeInitialEnvironment();
        if (Prctl(PrSetDumpable, 0, 0, 0, 0) != 0)
        {
            problem = $"prctl(PR_SET_DUMPABLE, 0) failed (errno {Marshal.GetLastPInvokeError()})";
        }
        return problem;
    }

    /// <summary>
    /// /proc/self/environ shows the environment block the process started with, whatever the
    /// runtime's copy says since: overwrite the secret entries there with NULs (through /proc/self/mem,
    /// which a process may always write for itself).
    /// </summary>
    private static string? WipeInitialEnvironment()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            // Fields after the command name (which may hold spaces); env_start and env_end are fields 50 and 51.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var start = long.Parse(fields[47], System.Globalization.CultureInfo.InvariantCulture);
            var end = long.Parse(fields[48], System.Globalization.CultureInfo.InvariantCulture);
            if (start <= 0 || end <= start || end - start > 16 * 1024 * 1024)
            {
                return "the worker's initial environment could not be located to wipe its secrets";
            }
            var block = new byte[end - start];
            using var mem = new FileStream("/proc/self/mem", FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1);
            mem.Seek(start, SeekOrigin.Begin);
            mem.ReadExactly(block);
            var entryStart = 0;
            for (var i = 0; i <= block.Length; i++)
            {
                if (i < block.Length && block[i] != 0)
                {
                    continue;
                }
                if (IsSecret(block.AsSpan(entryStart, i - entryStart)))
                {
                    mem.Seek(start + entryStart, SeekOrigin.Begin);
                    mem.Write(new byte[i - entryStart]);
                }
                entryStart = i + 1;
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return $"the worker's initial environment could not be wiped of its secrets: {e.Message}";
        }
    }

    private static bool IsSecret(ReadOnlySpan<byte> entry)
    {
        foreach (var name in Names)
        {
            var prefix = Encoding.ASCII.GetBytes(name + "=");
            if (entry.StartsWith(prefix))
            {
                return true;
            }
        }
        return false;
    }
}
