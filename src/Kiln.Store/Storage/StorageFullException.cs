namespace Kiln.Store.Storage;

/// <summary>
/// A write found its filesystem full (ENOSPC) or its quota used up (EDQUOT). Not the writer's fault
/// and not lasting: the API answers 507 Insufficient Storage, the writer keeps its bytes and repeats
/// later, and appends resume where they stopped once space returns.
/// </summary>
public sealed class StorageFullException(string what, IOException inner)
    : Exception($"the server's {what} storage is full; the bytes were not stored, send them again later", inner)
{
    private const int Enospc = 28;
    private const int Edquot = 122;
    private const int ErrorHandleDiskFull = 39;
    private const int ErrorDiskFull = 112;

    /// <summary>True when <paramref name="e"/> is the operating system saying "no space left" or "quota exceeded".</summary>
    public static bool IsDiskFull(IOException e) =>
        (e.HResult & 0xFFFF) is Enospc or Edquot or ErrorDiskFull or ErrorHandleDiskFull
        || e.Message.Contains("No space left on device", StringComparison.Ordinal)
        || e.Message.Contains("Disk quota exceeded", StringComparison.Ordinal);
}
