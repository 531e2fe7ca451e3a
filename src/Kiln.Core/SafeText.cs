using System.Globalization;

namespace Kiln.Core;

/// <summary>
/// What text Kiln accepts from outside, checked once at the edge (JSON strings, query
/// parameters, route values and the headers Kiln reads). PostgreSQL refuses U+0000 in
/// <c>text</c> and <c>jsonb</c>, and an unpaired surrogate cannot be encoded as UTF-8, so
/// either would fail a statement — and with it every report of a completion batch. Other C0
/// control characters have no use in a script, a message or a name and only hide things from
/// the people reading them; tab, line feed and carriage return are allowed where text may have
/// lines (scripts, messages, environment values), never in single-line values.
/// </summary>
public static class SafeText
{
    /// <summary>Says what is wrong with <paramref name="value"/>, or null when it is acceptable.</summary>
    /// <param name="multiline">Whether tab, line feed and carriage return belong in this value.</param>
    public static string? Problem(string value, bool multiline = true)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\0')
            {
                return "contains U+0000 (NUL), which cannot be stored";
            }
            if (c < ' ' && !(multiline && c is '\t' or '\n' or '\r'))
            {
                return $"contains the control character U+{(int)c:X4} at position {i.ToString(CultureInfo.InvariantCulture)}";
            }
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return $"contains an unpaired UTF-16 surrogate at position {i.ToString(CultureInfo.InvariantCulture)} (not valid Unicode)";
            }
        }
        return null;
    }

    /// <summary>
    /// <paramref name="value"/> with every character <see cref="Problem"/> would refuse replaced by
    /// U+FFFD: for text Kiln itself forwards (a worker's report message quoting a tool's output),
    /// where refusing would lose the report and replacing loses only the unprintable character.
    /// </summary>
    public static string Clean(string value, bool multiline = true)
    {
        if (Problem(value, multiline) is null)
        {
            return value;
        }
        var chars = value.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            if (char.IsHighSurrogate(c) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c) || (c < ' ' && !(multiline && c is '\t' or '\n' or '\r')))
            {
                chars[i] = '\uFFFD';
            }
        }
        return new string(chars);
    }
}
