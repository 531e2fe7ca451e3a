using System.Runtime.InteropServices;
using System.Text;

namespace Kiln.Server.Repositories;

/// <summary>link(2): .NET has symbolic links but no hard links. Paths go as NUL-terminated UTF-8 (no unsafe code).</summary>
internal static class HardLink
{
    /// <summary>0 on success, else -1 (the caller falls back to a copy).</summary>
    public static int Create(string existing, string link) => OperatingSystem.IsWindows() ? -1 : NativeLink(Utf8(existing), Utf8(link));

    private static byte[] Utf8(string path) => Encoding.UTF8.GetBytes(path + "\0");

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code in this project; byte[] marshals without it.
    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int NativeLink(byte[] existing, byte[] link);
#pragma warning restore SYSLIB1054
}
