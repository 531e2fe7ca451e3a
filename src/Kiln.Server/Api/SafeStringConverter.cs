using System.Text.Json;
using System.Text.Json.Serialization;
using Kiln.Core;

namespace Kiln.Server.Api;

/// <summary>
/// Every JSON string the API reads — values and property names (environment variables, job
/// names, matrix axes) — passes <see cref="SafeText"/>: one check for every body instead of one
/// per field, so a NUL in any string is a 400 naming its path (<c>jobs.a.env.X</c>,
/// <c>reports[3].message</c>) and never reaches PostgreSQL. Writing is unchanged.
/// </summary>
internal sealed class SafeStringConverter : JsonConverter<string>
{
    /// <summary>A refusal whose message already says what is wrong, in the document's terms.</summary>
    internal sealed class UnsafeTextException(string message, bool inName = false) : JsonException(message)
    {
        /// <summary>The bad text is a property name: the path ends with it, so the field is its object.</summary>
        public bool InName { get; } = inName;
    }

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException(); // the serializer words it, with the path
        }
        var value = reader.GetString()!;
        return SafeText.Problem(value) is { } problem ? throw new UnsafeTextException(problem) : value;
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var name = reader.GetString()!;
        return SafeText.Problem(name, multiline: false) is { } problem ? throw new UnsafeTextException($"has a name that {problem}", inName: true) : name;
    }

    public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WritePropertyName(value);
}
