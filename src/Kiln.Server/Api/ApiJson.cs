using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Api;

/// <summary>
/// JSON for the API: camelCase, and strict on input — an unknown or repeated property is an
/// error naming it, because a silently ignored typo (<c>need:</c> for <c>needs:</c>) would
/// build the wrong graph. Every string read passes <see cref="SafeStringConverter"/> (no U+0000,
/// no stray control characters, no broken Unicode), so bad text is refused here with its path
/// rather than by PostgreSQL with a 500.
/// </summary>
public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions o)
    {
        o.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        o.AllowDuplicateProperties = false;
        o.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        o.MaxDepth = 32;
        o.Converters.Add(new SafeStringConverter());
        return o;
    }

    /// <summary>Reads a JSON body of at most <paramref name="maxBytes"/>; on failure returns a problem naming the field.</summary>
    public static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpRequest request, int maxBytes, CancellationToken ct)
        where T : class
    {
        if (request.ContentLength > maxBytes)
        {
            return (null, ApiProblems.TooLarge(maxBytes));
        }
        if (request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, ApiProblems.Status(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", $"send the body as application/json, not {type}"));
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return (null, ApiProblems.TooLarge(maxBytes));
            }
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0)
        {
            return (null, ApiProblems.Invalid("", "the request needs a JSON body"));
        }
        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Options);
            return value is null ? (null, ApiProblems.Invalid("", "the body must be a JSON object")) : (value, null);
        }
        catch (JsonException e)
        {
            var field = (e.Path ?? "").TrimStart('$').TrimStart('.');
            if (e is SafeStringConverter.UnsafeTextException { InName: true })
            {
                // The path ends with the bad name itself: name the object that holds it.
                var cut = field.EndsWith("']", StringComparison.Ordinal) ? field.LastIndexOf("['", StringComparison.Ordinal) : field.LastIndexOf('.');
                field = cut > 0 ? field[..cut] : "";
            }
            return (null, ApiProblems.Invalid(field, Explain(e, field)));
        }
    }

    /// <summary>System.Text.Json's messages name .NET types; say it in the document's terms instead.</summary>
    private static string Explain(JsonException e, string field)
    {
        var where = field.Length > 0 ? $" at '{field}'" : "";
        var message = e.Message;
        if (e is SafeStringConverter.UnsafeTextException)
        {
            return field.Length > 0 ? $"'{field}' {message}" : message;
        }
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            return $"unknown property{where}; check its spelling against the documented fields";
        }
        if (message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
        {
            return $"duplicate property{where}; each name may appear once";
        }
        if (message.Contains("could not be converted", StringComparison.Ordinal))
        {
            return $"wrong type of value{where}";
        }
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return $"invalid JSON{where}: {(cut > 0 ? message[..cut] : message)}";
    }
}
