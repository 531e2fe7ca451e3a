using System.Text;

namespace Kiln.Server.Repositories;

/// <summary>
/// A deb822 paragraph (a .deb's control file, a .dsc): fields in their order, each with its raw value
/// (continuation lines kept), so an index stanza reproduces what the package said.
/// </summary>
public sealed class DebianStanza
{
    private readonly List<KeyValuePair<string, string>> _fields = [];

    public IReadOnlyList<KeyValuePair<string, string>> Fields => _fields;

    /// <summary>The first paragraph of <paramref name="text"/>; an OpenPGP clear-signature around it (a signed .dsc) is taken off.</summary>
    public static DebianStanza Parse(string text)
    {
        var stanza = new DebianStanza();
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var i = 0;
        if (lines.Length > 0 && lines[0].StartsWith("-----BEGIN PGP SIGNED MESSAGE-----", StringComparison.Ordinal))
        {
            // Armor headers ("Hash: …") end at the first empty line.
            while (i < lines.Length && lines[i].Length > 0)
            {
                i++;
            }
        }
        while (i < lines.Length && lines[i].Trim().Length == 0)
        {
            i++;
        }
        for (; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Trim().Length == 0 || line.StartsWith("-----BEGIN PGP SIGNATURE-----", StringComparison.Ordinal))
            {
                break;
            }
            if (line.StartsWith('#'))
            {
                continue;
            }
            if ((line[0] == ' ' || line[0] == '\t') && stanza._fields.Count > 0)
            {
                var last = stanza._fields[^1];
                stanza._fields[^1] = new(last.Key, last.Value + "\n" + line);
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new FormatException($"line {i + 1} is not 'Field: value': '{(line.Length > 80 ? line[..80] : line)}'");
            }
            stanza._fields.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }
        return stanza;
    }

    public string? this[string field] =>
        _fields.FirstOrDefault(f => string.Equals(f.Key, field, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>The field's continuation lines, each trimmed (a .dsc's Files and Checksums-Sha256).</summary>
    public IEnumerable<string> Lines(string field) =>
        (this[field] ?? "").Split('\n').Skip(1).Select(l => l.Trim()).Where(l => l.Length > 0);

    /// <summary>The paragraph as text, without the fields named in <paramref name="leaveOut"/>, with no trailing newline.</summary>
    public string Render(params string[] leaveOut)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in _fields.Where(f => !leaveOut.Contains(f.Key, StringComparer.OrdinalIgnoreCase)))
        {
            if (text.Length > 0)
            {
                text.Append('\n');
            }
            text.Append(key).Append(':');
            if (value.Length > 0 && value[0] != '\n')
            {
                text.Append(' ');
            }
            text.Append(value);
        }
        return text.ToString();
    }
}
