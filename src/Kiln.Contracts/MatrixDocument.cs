using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kiln.Contracts;

/// <summary>
/// A job's matrix as written: axes (<c>arch: [amd64, arm64]</c>) plus the reserved keys
/// <c>exclude</c> (combinations to remove) and <c>include</c> (combinations to add or extend),
/// each a list of <c>key: value</c> mappings. The axes are the dictionary's entries.
/// </summary>
[JsonConverter(typeof(MatrixDocumentJsonConverter))]
public sealed class MatrixDocument : Dictionary<string, List<string>>
{
    /// <summary>The reserved key for <see cref="Include"/>.</summary>
    public const string IncludeKey = "include";

    /// <summary>The reserved key for <see cref="Exclude"/>.</summary>
    public const string ExcludeKey = "exclude";

    public MatrixDocument() : base(StringComparer.Ordinal) { }

    /// <summary>Entries that extend every combination they match, or are added as combinations of their own.</summary>
    public List<Dictionary<string, string>>? Include { get; set; }

    /// <summary>Entries removing every combination that matches all of their keys.</summary>
    public List<Dictionary<string, string>>? Exclude { get; set; }
}

/// <summary>Reads and writes <see cref="MatrixDocument"/> as one flat JSON object, refusing repeated keys.</summary>
internal sealed class MatrixDocumentJsonConverter : JsonConverter<MatrixDocument>
{
    public override MatrixDocument Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("a matrix is an object of axes (name: [values]) with optional include and exclude lists");
        }
        var matrix = new MatrixDocument();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            if (!seen.Add(key))
            {
                throw new JsonException($"the matrix repeats the key '{key}'");
            }
            reader.Read();
            switch (key)
            {
                case MatrixDocument.IncludeKey:
                    matrix.Include = JsonSerializer.Deserialize<List<Dictionary<string, string>>>(ref reader, options);
                    break;
                case MatrixDocument.ExcludeKey:
                    matrix.Exclude = JsonSerializer.Deserialize<List<Dictionary<string, string>>>(ref reader, options);
                    break;
                default:
                    matrix[key] = JsonSerializer.Deserialize<List<string>>(ref reader, options)!;
                    break;
            }
        }
        return matrix;
    }

    public override void Write(Utf8JsonWriter writer, MatrixDocument value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (axis, values) in value)
        {
            writer.WritePropertyName(axis);
            JsonSerializer.Serialize(writer, values, options);
        }
        if (value.Exclude is { } exclude)
        {
            writer.WritePropertyName(MatrixDocument.ExcludeKey);
            JsonSerializer.Serialize(writer, exclude, options);
        }
        if (value.Include is { } include)
        {
            writer.WritePropertyName(MatrixDocument.IncludeKey);
            JsonSerializer.Serialize(writer, include, options);
        }
        writer.WriteEndObject();
    }
}
