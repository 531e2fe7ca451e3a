using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace Kiln.Core.Packaging;

/// <summary>
/// Name, version and release of a source RPM, read from its header in C# (no rpm tools needed on
/// the server): the 96-byte lead (magic, type 1 = source), the signature header (padded to 8
/// bytes), then the main header's NAME (1000), VERSION (1001) and RELEASE (1002) string tags.
/// </summary>
public sealed partial record SrpmHeader(string Name, string Version, string Release)
{
    private const int LeadBytes = 96;
    private const int MaxIndexEntries = 100_000;
    private const int MaxStoreBytes = 64 * 1024 * 1024;

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")]
    private static partial Regex NameText();

    [GeneratedRegex(@"^[A-Za-z0-9._+~^]{1,128}$")]
    private static partial Regex VersionText();

    /// <summary>The Kiln version of the package: VERSION-RELEASE.</summary>
    public string FullVersion => $"{Version}-{Release}";

    /// <summary>Reads the header from the start of <paramref name="stream"/>; null and the reason when it is not a source RPM.</summary>
    public static async Task<(SrpmHeader? Header, string? Problem)> ReadAsync(Stream stream, CancellationToken ct)
    {
        var lead = new byte[LeadBytes];
        if (!await ReadExactlyAsync(stream, lead, ct) || BinaryPrimitives.ReadUInt32BigEndian(lead) != 0xEDABEEDB)
        {
            return (null, "it is not an RPM package (no RPM lead)");
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(lead.AsSpan(6)) != 1)
        {
            return (null, "it is a binary RPM, not a source RPM");
        }
        var (signature, _, problem) = await ReadHeaderAsync(stream, ct);
        if (problem is not null)
        {
            return (null, "signature header: " + problem);
        }
        var padding = (8 - (signature % 8)) % 8;
        if (padding > 0 && !await ReadExactlyAsync(stream, new byte[padding], ct))
        {
            return (null, "it ends inside its signature header");
        }
        var (_, tags, mainProblem) = await ReadHeaderAsync(stream, ct);
        if (mainProblem is not null || tags is null)
        {
            return (null, "header: " + (mainProblem ?? "unreadable"));
        }
        var name = tags.GetValueOrDefault(1000);
        var version = tags.GetValueOrDefault(1001);
        var release = tags.GetValueOrDefault(1002);
        if (name is null || !NameText().IsMatch(name) || version is null || !VersionText().IsMatch(version) || release is null || !VersionText().IsMatch(release))
        {
            return (null, "its header lacks a valid NAME, VERSION or RELEASE");
        }
        return (new SrpmHeader(name, version, release), null);
    }

    /// <returns>The header's length in bytes after its 16-byte intro, and its string tags.</returns>
    private static async Task<(long Length, Dictionary<int, string>? Tags, string? Problem)> ReadHeaderAsync(Stream stream, CancellationToken ct)
    {
        var intro = new byte[16];
        if (!await ReadExactlyAsync(stream, intro, ct) || intro[0] != 0x8E || intro[1] != 0xAD || intro[2] != 0xE8)
        {
            return (0, null, "no header magic");
        }
        var count = BinaryPrimitives.ReadInt32BigEndian(intro.AsSpan(8));
        var storeBytes = BinaryPrimitives.ReadInt32BigEndian(intro.AsSpan(12));
        if (count is < 0 or > MaxIndexEntries || storeBytes is < 0 or > MaxStoreBytes)
        {
            return (0, null, "its size is out of bounds");
        }
        var index = new byte[count * 16];
        var store = new byte[storeBytes];
        if (!await ReadExactlyAsync(stream, index, ct) || !await ReadExactlyAsync(stream, store, ct))
        {
            return (0, null, "the file ends inside it");
        }
        var tags = new Dictionary<int, string>();
        for (var i = 0; i < count; i++)
        {
            var entry = index.AsSpan(i * 16, 16);
            var tag = BinaryPrimitives.ReadInt32BigEndian(entry);
            var type = BinaryPrimitives.ReadInt32BigEndian(entry[4..]);
            var offset = BinaryPrimitives.ReadInt32BigEndian(entry[8..]);
            // Type 6 is STRING: NUL-terminated in the store.
            if (tag is >= 1000 and <= 1002 && type == 6 && offset >= 0 && offset < storeBytes)
            {
                var end = Array.IndexOf(store, (byte)0, offset);
                tags[tag] = Encoding.UTF8.GetString(store, offset, (end < 0 ? storeBytes : end) - offset);
            }
        }
        return (index.Length + store.Length, tags, null);
    }

    private static async Task<bool> ReadExactlyAsync(Stream stream, byte[] buffer, CancellationToken ct)
    {
        try
        {
            await stream.ReadExactlyAsync(buffer, ct);
            return true;
        }
        catch (EndOfStreamException)
        {
            return false;
        }
    }
}
