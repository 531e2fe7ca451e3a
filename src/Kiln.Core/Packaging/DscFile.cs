using System.Text.RegularExpressions;

namespace Kiln.Core.Packaging;

/// <summary>One file a .dsc lists: its name, size and the checksums the .dsc gives (SHA-256 and MD5 when present).</summary>
public sealed record DscEntry(string Name, long Size, string? Sha256, string? Md5);

/// <summary>
/// A Debian source control file (.dsc): Source, Version and the files it lists, from the
/// <c>Files</c> (MD5) and <c>Checksums-Sha256</c> fields. A clearsigned .dsc is accepted and its
/// signature stripped before parsing; the signature is NOT verified (an upload's authority is the
/// uploader's Kiln token and role, not a Debian keyring).
/// </summary>
public sealed partial record DscFile(string Source, string Version, IReadOnlyList<DscEntry> Files)
{
    /// <summary>Largest .dsc accepted (they are a few KiB).</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <summary>Most files a .dsc may list.</summary>
    public const int MaxFiles = 63;

    [GeneratedRegex(@"^[a-z0-9][a-z0-9.+-]{0,99}$")]
    private static partial Regex SourceName();

    [GeneratedRegex(@"^([0-9]{1,9}:)?[A-Za-z0-9.+~-]{1,128}$")]
    private static partial Regex VersionText();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,254}$")]
    private static partial Regex FileNameText();

    [GeneratedRegex(@"^[0-9a-f]{64}$")]
    private static partial Regex Sha256Text();

    [GeneratedRegex(@"^[0-9a-f]{32}$")]
    private static partial Regex Md5Text();

    /// <summary>True when <paramref name="name"/> may name a file of a source package (no directories, no leading dot).</summary>
    public static bool IsFileName(string? name) => name is not null && FileNameText().IsMatch(name);

    /// <summary>Parses <paramref name="text"/>; on failure returns null and says why in <paramref name="problem"/>.</summary>
    public static DscFile? Parse(string text, out string? problem)
    {
        problem = null;
        var lines = StripSignature(text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'), out var signatureProblem);
        if (signatureProblem is not null)
        {
            problem = signatureProblem;
            return null;
        }
        var fields = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        List<string>? current = null;
        foreach (var line in lines)
        {
            if (line.Length == 0)
            {
                // The first paragraph is the source stanza; anything after a blank line is not ours.
                if (fields.Count > 0)
                {
                    break;
                }
                continue;
            }
            if (line[0] is ' ' or '\t')
            {
                if (current is null)
                {
                    problem = "a continuation line comes before any field";
                    return null;
                }
                current.Add(line.Trim());
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                problem = $"'{Cut(line)}' is not a 'Field: value' line";
                return null;
            }
            current = [];
            var value = line[(colon + 1)..].Trim();
            if (value.Length > 0)
            {
                current.Add(value);
            }
            fields[line[..colon].Trim()] = current;
        }
        string? Single(string name) => fields.TryGetValue(name, out var v) && v.Count == 1 ? v[0] : null;
        var source = Single("Source");
        var version = Single("Version");
        if (source is null || !SourceName().IsMatch(source))
        {
            problem = source is null ? "it has no Source field" : $"Source '{Cut(source)}' is not a source package name";
            return null;
        }
        if (version is null || !VersionText().IsMatch(version))
        {
            problem = version is null ? "it has no Version field" : $"Version '{Cut(version)}' is not a Debian version";
            return null;
        }
        if (!fields.TryGetValue("Files", out var md5Lines) && !fields.TryGetValue("Checksums-Sha256", out _))
        {
            problem = "it lists no files (neither Files nor Checksums-Sha256)";
            return null;
        }
        var entries = new Dictionary<string, DscEntry>(StringComparer.Ordinal);
        if (ReadSection(fields, "Checksums-Sha256", Sha256Text(), entries, (e, hash) => e with { Sha256 = hash }, out problem) is false
            || ReadSection(fields, "Files", Md5Text(), entries, (e, hash) => e with { Md5 = hash }, out problem) is false)
        {
            return null;
        }
        if (entries.Count > MaxFiles)
        {
            problem = $"it lists {entries.Count} files; at most {MaxFiles} are accepted";
            return null;
        }
        return new DscFile(source, version, [.. entries.Values]);
    }

    private static bool ReadSection(
        Dictionary<string, List<string>> fields, string field, Regex hashForm, Dictionary<string, DscEntry> entries,
        Func<DscEntry, string, DscEntry> withHash, out string? problem)
    {
        problem = null;
        if (!fields.TryGetValue(field, out var lines))
        {
            return true;
        }
        foreach (var line in lines)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 3 || !hashForm.IsMatch(parts[0]) || !long.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size)
                || !FileNameText().IsMatch(parts[2]))
            {
                problem = $"{field}: '{Cut(line)}' is not 'CHECKSUM SIZE NAME'";
                return false;
            }
            var entry = entries.GetValueOrDefault(parts[2]) ?? new DscEntry(parts[2], size, null, null);
            if (entry.Size != size)
            {
                problem = $"{field}: {parts[2]} has size {size} here and {entry.Size} in another checksum field";
                return false;
            }
            entries[parts[2]] = withHash(entry, parts[0]);
        }
        return true;
    }

    /// <summary>The signed text of a clearsigned message (dash-escaping undone), or the text itself when unsigned.</summary>
    private static IEnumerable<string> StripSignature(string[] lines, out string? problem)
    {
        problem = null;
        var start = Array.FindIndex(lines, l => l.Length > 0);
        if (start < 0 || lines[start].TrimEnd() != "-----BEGIN PGP SIGNED MESSAGE-----")
        {
            return lines;
        }
        var body = start + 1;
        while (body < lines.Length && lines[body].Length > 0)
        {
            body++;
        }
        var end = Array.FindIndex(lines, body, l => l.TrimEnd() == "-----BEGIN PGP SIGNATURE-----");
        if (end < 0)
        {
            problem = "it begins a PGP signed message but has no signature block";
            return [];
        }
        return lines[(body + 1)..end].Select(l => l.StartsWith("- ", StringComparison.Ordinal) ? l[2..] : l);
    }

    private static string Cut(string value) => value.Length <= 60 ? value : value[..60] + "…";
}
