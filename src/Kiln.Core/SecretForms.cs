using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Kiln.Core;

/// <summary>
/// The byte sequences that give a secret away in a log: the value itself and the encodings a
/// script commonly prints it in. Each is masked wherever it appears. See docs/worker.md, "Secrets in logs".
/// </summary>
internal static partial class SecretForms
{
    /// <summary>Shorter values are not masked: three characters would mask pieces of every log.</summary>
    public const int MinimumLength = 4;

    /// <summary>Every form of <paramref name="value"/> (and, for a multi-line value, of each of its lines), distinct.</summary>
    public static IEnumerable<byte[]> Of(string value)
    {
        if (value.Length < MinimumLength)
        {
            yield break;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in Parts(value))
        {
            foreach (var form in FormsOf(part))
            {
                if (form.Length >= MinimumLength && seen.Add(Convert.ToBase64String(form)))
                {
                    yield return form;
                }
            }
        }
    }

    /// <summary>The value, and each of its lines of at least <see cref="MinimumLength"/> characters (without the \r of a CRLF).</summary>
    private static IEnumerable<string> Parts(string value)
    {
        yield return value;
        if (!value.Contains('\n', StringComparison.Ordinal))
        {
            yield break;
        }
        foreach (var line in value.Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed.Length >= MinimumLength)
            {
                yield return trimmed;
            }
        }
    }

    private static IEnumerable<byte[]> FormsOf(string value)
    {
        var utf8 = Encoding.UTF8.GetBytes(value);
        yield return utf8;

        foreach (var text in Base64Forms(utf8))
        {
            yield return Encoding.ASCII.GetBytes(text);
            yield return Encoding.ASCII.GetBytes(text.Replace('+', '-').Replace('/', '_'));
        }

        var escaped = Uri.EscapeDataString(value);
        foreach (var url in (string[])[escaped, escaped.Replace("%20", "+", StringComparison.Ordinal), WebUtility.UrlEncode(value)])
        {
            yield return Encoding.ASCII.GetBytes(url);
            yield return Encoding.ASCII.GetBytes(PercentEscape().Replace(url, m => m.Value.ToLowerInvariant()));
        }

        yield return Encoding.ASCII.GetBytes(Convert.ToHexStringLower(utf8));
        yield return Encoding.ASCII.GetBytes(Convert.ToHexString(utf8));

        var json = JsonSerializer.Serialize(value);
        yield return Encoding.UTF8.GetBytes(json[1..^1]);
        yield return Encoding.UTF8.GetBytes(JsonEscape(value, escapeNonAscii: false, upperHex: false));
        yield return Encoding.UTF8.GetBytes(JsonEscape(value, escapeNonAscii: true, upperHex: false));
        yield return Encoding.UTF8.GetBytes(JsonEscape(value, escapeNonAscii: true, upperHex: true));
    }

    /// <summary>
    /// Standard base64 of the value with and without padding, and the part of it that stays the
    /// same whatever precedes and follows the value inside a longer base64 text (<c>base64("user:" + secret)</c>):
    /// a value starting at byte 0, 1 or 2 of a 3-byte group is encoded to different characters,
    /// and its first and last characters mix in the neighbours' bits. For each of the three
    /// alignments, the characters made of the value's bits alone are a form (as the GitHub Actions
    /// runner masks them).
    /// </summary>
    private static IEnumerable<string> Base64Forms(byte[] utf8)
    {
        var plain = Convert.ToBase64String(utf8);
        yield return plain;
        yield return plain.TrimEnd('=');
        for (var shift = 0; shift < 3; shift++)
        {
            var shifted = new byte[shift + utf8.Length];
            utf8.CopyTo(shifted, shift);
            var encoded = Convert.ToBase64String(shifted);
            // Characters wholly inside the value's bits: from the first character starting at or after bit 8·shift,
            // to the last one ending at or before the value's last bit.
            var first = (8 * shift + 5) / 6;
            var last = 8 * shifted.Length / 6;
            if (last > first)
            {
                yield return encoded[first..last];
            }
        }
    }

    /// <summary>A JSON string's content as other encoders write it (jq, Python's json, JavaScript).</summary>
    private static string JsonEscape(string value, bool escapeNonAscii, bool upperHex)
    {
        var text = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                default:
                    if (c < 0x20 || (escapeNonAscii && c > 0x7e))
                    {
                        text.Append("\\u").Append(((int)c).ToString(upperHex ? "X4" : "x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }
                    break;
            }
        }
        return text.ToString();
    }

    [GeneratedRegex("%[0-9A-F]{2}")]
    private static partial Regex PercentEscape();
}
