using System.Runtime.InteropServices;
using System.Text;

namespace Kiln.Server.Repositories;

/// <summary>
/// link(2) and rename(2): .NET has no hard links, and its File.Move checks the source through a symbolic
/// link (refusing a link whose target is relative to it). Paths go as NUL-terminated UTF-8 (no unsafe code).
/// </summary>
internal static class PosixFiles
{
    /// <summary>0 on success, else -1 (the caller falls back to a copy).</summary>
    public static int HardLink(string existing, string link) => OperatingSystem.IsWindows() ? -1 : NativeLink(Utf8(existing), Utf8(link));

    /// <summary>Replaces <paramref name="to"/> with <paramref name="from"/> in one step; readers see one or the other.</summary>
    public static void Rename(string from, string to)
    {
        if (OperatingSystem.IsWindows() || NativeRename(Utf8(from), Utf8(to)) != 0)
        {
            throw new IOException($"rename {from} to {to} failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    private static byte[] Utf8(string path) => Encoding.UTF8.GetBytes(path + "\0");

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code in this project; byte[] marshals without it.
    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int NativeLink(byte[] existing, byte[] link);

    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int NativeRename(byte[] from, byte[] to);
#pragma warning restore SYSLIB1054
}
