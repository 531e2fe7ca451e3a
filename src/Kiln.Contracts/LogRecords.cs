namespace Kiln.Contracts;

/// <summary>
/// The server's answer to a log append: how many bytes of this attempt's log it holds.
/// The worker always continues from <see cref="Size"/>, so a repeated or overlapping chunk
/// is harmless and a gap is never written.
/// </summary>
public sealed record LogAppendResponse(long Size);

/// <summary>What a log read returned besides the bytes.</summary>
/// <param name="Attempt">The attempt whose log this is.</param>
/// <param name="Size">The log's size when the read began.</param>
/// <param name="Complete">The attempt has ended: the log will not grow any more.</param>
/// <param name="BytesRead">Bytes written to the destination by this read.</param>
public sealed record LogReadResult(int Attempt, long Size, bool Complete, long BytesRead);

/// <summary>HTTP header names of the log endpoints.</summary>
public static class LogHeaders
{
    /// <summary>Size of the log when the read began.</summary>
    public const string Size = "Kiln-Log-Size";
    /// <summary><c>true</c> when the attempt has ended and the log is final.</summary>
    public const string Complete = "Kiln-Log-Complete";
    /// <summary>The attempt the log belongs to.</summary>
    public const string Attempt = "Kiln-Log-Attempt";
}
