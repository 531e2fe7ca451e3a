using System.Globalization;
using System.Text.Json;
using Kiln.Core;

namespace Kiln.Server.Hooks;

/// <summary>
/// Reads a forge payload by dotted paths. Every string that becomes a fact is single-line text
/// without NUL or control characters and of bounded length (PostgreSQL's jsonb refuses U+0000, and
/// a fact ends up in messages and workflow parameters); anything else is a malformed payload
/// naming the path.
/// </summary>
internal static class Payload
{
    /// <summary>Longest text fact (a ref, a login, a URL).</summary>
    public const int MaxText = 500;

    public static JsonElement? Find(JsonElement root, string path)
    {
        var current = root;
        foreach (var part in path.Split('.'))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(part, out current))
            {
                return null;
            }
        }
        return current.ValueKind == JsonValueKind.Null ? null : current;
    }

    /// <summary>A string at <paramref name="path"/>, or null when absent or null.</summary>
    public static string? Text(JsonElement root, string path, int max = MaxText)
    {
        if (Find(root, path) is not { } value)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new MalformedPayloadException(path, $"must be a string, not {value.ValueKind.ToString().ToLowerInvariant()}");
        }
        var text = value.GetString()!;
        if (SafeText.Problem(text, multiline: false) is { } problem)
        {
            throw new MalformedPayloadException(path, problem);
        }
        return text.Length > max ? throw new MalformedPayloadException(path, $"is longer than {max} characters") : text;
    }

    public static string Required(JsonElement root, string path, int max = MaxText) =>
        Text(root, path, max) is { Length: > 0 } text ? text : throw new MalformedPayloadException(path, "is missing");

    public static long? Number(JsonElement root, string path) => Find(root, path) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } n when n.TryGetInt64(out var v) => v,
        _ => throw new MalformedPayloadException(path, "must be an integer"),
    };

    public static bool? Flag(JsonElement root, string path) => Find(root, path) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw new MalformedPayloadException(path, "must be true or false"),
    };

    /// <summary>A commit id: 40 (SHA-1) or 64 (SHA-256) hex digits, kept in lower case.</summary>
    public static string? Sha(JsonElement root, string path)
    {
        if (Text(root, path, 64) is not { } text)
        {
            return null;
        }
        return IsSha(text) ? text.ToLowerInvariant() : throw new MalformedPayloadException(path, $"'{text}' is not a commit id (40 or 64 hex digits)");
    }

    public static bool IsSha(string text) => text.Length is 40 or 64 && text.All(Uri.IsHexDigit);

    /// <summary>The all-zero id forges send as a push's "after" when the ref was deleted (and as "before" when created).</summary>
    public static bool IsZero(string? sha) => sha is not null && sha.All(c => c == '0');

    /// <summary>A full ref (refs/heads/main), at most 255 characters.</summary>
    public static string Ref(JsonElement root, string path)
    {
        var text = Required(root, path, 255);
        return text.StartsWith("refs/", StringComparison.Ordinal) ? text : throw new MalformedPayloadException(path, $"'{text}' is not a full ref (refs/heads/…, refs/tags/…)");
    }

    public static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
