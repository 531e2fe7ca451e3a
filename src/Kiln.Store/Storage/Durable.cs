using System.Runtime.InteropServices;

namespace Kiln.Store.Storage;

/// <summary>
/// Making a file's appearance survive a power loss: the file's bytes are flushed before it is
/// renamed into place, and the directory holding the new name is flushed after. Without the second
/// step a rename can be lost, or (worse) kept while the bytes are not — an empty file under a
/// name that promises content.
/// </summary>
public static partial class Durable
{
    private const int ReadOnly = 0;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    /// <summary>Flushes a directory's entries (names created, renamed or removed in it) to disk.</summary>
    /// <exception cref="IOException">The directory could not be opened or flushed.</exception>
    public static void SyncDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var fd = Open(path, ReadOnly);
        if (fd < 0)
        {
            throw new IOException($"could not open directory {path} to flush it (errno {Marshal.GetLastPInvokeError()})");
        }
        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"could not flush directory {path} (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }
}
