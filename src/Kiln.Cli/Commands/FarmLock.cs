using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Kiln.Cli.Commands;

/// <summary>
/// A data directory belongs to one farm: <c>kiln up</c> holds an exclusive lock on
/// <c>DATA_DIR/kiln.lock</c> (an <c>flock</c>, taken by opening it with <see cref="FileShare.None"/>)
/// for as long as it runs, with its process id written inside. The kernel drops the lock when
/// the process ends, however it ends, so no lock outlives its holder (LESSONS.md, 2).
/// </summary>
public sealed partial class FarmLock : IDisposable
{
    public const string FileName = "kiln.lock";

    private readonly FileStream _file;

    private FarmLock(FileStream file) => _file = file;

    /// <summary>Takes the lock, or returns null and the holder's process id (0 when unknown) if another process has it.</summary>
    public static FarmLock? TryAcquire(string dataDirectory, out int holder)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, FileName);
        holder = 0;
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            // .NET takes a shared flock even to read, so the holder's pid is read with plain open/read.
            holder = int.TryParse(ReadUnlocked(path), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0;
            return null;
        }
        file.SetLength(0);
        file.Write(Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n"));
        file.Flush(flushToDisk: true);
        return new FarmLock(file);
    }

    public void Dispose() => _file.Dispose();

    private static string ReadUnlocked(string path)
    {
        const int ReadOnly = 0;
        var fd = Open(path, ReadOnly);
        if (fd < 0)
        {
            return "";
        }
        try
        {
            var buffer = new byte[32];
            var n = Read(fd, buffer, buffer.Length);
            return n > 0 ? Encoding.ASCII.GetString(buffer, 0, (int)n).Trim() : "";
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "read")]
    private static partial nint Read(int fd, [Out] byte[] buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
