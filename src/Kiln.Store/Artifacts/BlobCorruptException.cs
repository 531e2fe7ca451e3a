namespace Kiln.Store.Artifacts;

/// <summary>
/// A stored blob no longer hashes to its name (a disk fault, or a power loss before it was durable).
/// It has been set aside, so the content counts as not stored: the next upload of the same bytes
/// stores it again and repairs every artifact that points at it.
/// </summary>
public sealed class BlobCorruptException(string sha256, string actual)
    : Exception($"the stored content {sha256} is damaged (it hashes to {actual}) and was set aside; " +
                "upload the same content again (re-run the job that made it) to repair it")
{
    public string Sha256 { get; } = sha256;
}
