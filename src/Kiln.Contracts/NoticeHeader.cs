namespace Kiln.Contracts;

/// <summary>
/// The <c>Kiln-Notice</c> response header: every API answer carries the most severe active
/// notice as <c>severity: text</c>, with characters outside printable ASCII (and <c>%</c>)
/// percent-encoded as UTF-8, so a client can show it wherever the user already looks.
/// </summary>
public static class NoticeHeader
{
    /// <summary>The header's name.</summary>
    public const string Name = "Kiln-Notice";

    /// <summary>The header value for a notice.</summary>
    public static string Format(string severity, string text)
    {
        var builder = new System.Text.StringBuilder(severity.Length + text.Length + 2);
        Span<byte> utf8 = stackalloc byte[4];
        builder.Append(severity).Append(": ");
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value is >= 0x20 and < 0x7F && rune.Value != '%')
            {
                builder.Append((char)rune.Value);
            }
            else
            {
                var n = rune.EncodeToUtf8(utf8);
                foreach (var b in utf8[..n])
                {
                    builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }
        return builder.ToString();
    }

    /// <summary>The notice as people read it (<c>severity: text</c>, decoded); null if the value is not one.</summary>
    public static string? Decode(string? value)
    {
        if (value is null || value.Length == 0)
        {
            return null;
        }
        try
        {
            var text = Uri.UnescapeDataString(value);
            // A notice is one line: whatever a proxy or a hostile server sends, print no control characters.
            return text.Any(char.IsControl) ? new string(text.Where(c => !char.IsControl(c)).ToArray()) : text;
        }
        catch (UriFormatException)
        {
            return null;
        }
    }
}
