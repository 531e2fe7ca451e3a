using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kiln.Contracts;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Kiln.Cli.Workflows;

/// <summary>
/// A workflow file (YAML, or JSON by extension) read into the same <see cref="WorkflowDocument"/>
/// the API takes. Strict like the API: an unknown or repeated key is an error naming its line,
/// because a silently ignored typo (<c>need:</c>) would build the wrong graph. The file's lines
/// are kept so that the server's field errors (<c>jobs.build.needs[0]</c>) can point at them too.
/// </summary>
public sealed partial class WorkflowFile
{
    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(WorkflowFileNaming.Instance)
        .WithDuplicateKeyChecking()
        .WithTypeConverter(new MatrixYamlConverter())
        .Build();

    private static readonly JsonSerializerOptions StrictJson = new(KilnClient.Json)
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
    };

    private readonly Dictionary<string, int> _lines;

    private WorkflowFile(string path, WorkflowDocument document, Dictionary<string, int> lines)
    {
        Path = path;
        Document = document;
        _lines = lines;
    }

    public string Path { get; }

    public WorkflowDocument Document { get; }

    /// <exception cref="WorkflowFileException">The file cannot be read or is not a valid workflow document.</exception>
    public static WorkflowFile Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WorkflowFileException($"{path}: {e.Message}");
        }
        return Parse(path, text);
    }

    public static WorkflowFile Parse(string path, string text)
    {
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var document = JsonSerializer.Deserialize<WorkflowDocument>(text, StrictJson) ?? throw new WorkflowFileException($"{path}: the file is empty");
                return new WorkflowFile(path, document, []);
            }
            catch (JsonException e)
            {
                var field = e.Path is { Length: > 2 } p ? $"{p[2..]}: " : "";
                var message = e.Message.Contains("could not be converted to", StringComparison.Ordinal)
                    ? $"expected {Kind(e.Message)} here"
                    : e.Message.Split(" Path:", 2)[0];
                throw new WorkflowFileException($"{path}:{(e.LineNumber ?? 0) + 1}: {field}{message}");
            }
        }
        try
        {
            var document = Yaml.Deserialize<WorkflowDocument?>(text) ?? throw new WorkflowFileException($"{path}: the file is empty");
            return new WorkflowFile(path, document, LineMap(text));
        }
        catch (YamlException e)
        {
            throw new WorkflowFileException(YamlErrors.Describe(path, text, e, Explain));
        }
    }

    /// <summary>What a .NET type is called in a workflow file.</summary>
    internal static string Kind(string typeText) =>
        typeText.Contains("Int32", StringComparison.Ordinal) || typeText.Contains("Int64", StringComparison.Ordinal) ? "a whole number"
        : typeText.Contains("Double", StringComparison.Ordinal) ? "a number"
        : typeText.Contains("Boolean", StringComparison.Ordinal) ? "true or false"
        : typeText.Contains("Dictionary", StringComparison.Ordinal) || typeText.Contains("Kiln.Contracts", StringComparison.Ordinal) ? "a mapping (key: value lines)"
        : typeText.Contains("List", StringComparison.Ordinal) || typeText.Contains("[]", StringComparison.Ordinal) ? "a list"
        : typeText.Contains("String", StringComparison.Ordinal) ? "a single value (text)"
        : "a different kind of value";

    /// <summary>"file:line: field: message" for a server-side validation error, with the line when the field is in the file.</summary>
    public string Describe(FieldError error)
    {
        var field = error.Field;
        while (field.Length > 0 && !_lines.ContainsKey(field))
        {
            var cut = Math.Max(field.LastIndexOf('.'), field.LastIndexOf('['));
            field = cut > 0 ? field[..cut] : "";
        }
        var where = field.Length > 0 ? $"{Path}:{_lines[field]}" : Path;
        return error.Field.Length > 0 ? $"{where}: {error.Field}: {error.Message}" : $"{where}: {error.Message}";
    }

    private static string Explain(YamlException e)
    {
        var inner = e.InnerException is YamlException nested && nested != e ? nested : e;
        var match = UnknownProperty().Match(inner.Message);
        if (match.Success)
        {
            var type = typeof(WorkflowDocument).Assembly.GetType(match.Groups[2].Value);
            var known = type?.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Select(p => WorkflowFileNaming.Instance.Apply(p.Name)).ToList() ?? [];
            return $"unknown key '{match.Groups[1].Value}'" + (known.Count > 0 ? $" (expected one of: {string.Join(", ", known)})" : "");
        }
        var message = inner.Message;
        if (message.Contains("Duplicate key", StringComparison.OrdinalIgnoreCase))
        {
            return $"repeated key: {message}";
        }
        // Deserialisation failures name .NET types ("System.Int32", "Kiln.Contracts.…"); say what the file should hold instead.
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is FormatException or OverflowException || x.Message.Contains("System.", StringComparison.Ordinal) || x.Message.Contains("Kiln.", StringComparison.Ordinal))
            {
                var types = string.Join(' ', Chain(e).Select(c => c.Message));
                return $"expected {Kind(types)} here";
            }
        }
        return message;
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            yield return x;
        }
    }

    /// <summary>Every key and list item of the file by its API field path (<c>jobs.build.needs[0]</c>) → line.</summary>
    private static Dictionary<string, int> LineMap(string text)
    {
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        if (stream.Documents.Count > 0)
        {
            Walk(stream.Documents[0].RootNode, "", lines);
        }
        return lines;
    }

    private static void Walk(YamlNode node, string path, Dictionary<string, int> lines)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    var name = key is YamlScalarNode scalar ? scalar.Value ?? "" : key.ToString();
                    var child = path.Length == 0 ? name : $"{path}.{name}";
                    lines.TryAdd(child, (int)key.Start.Line);
                    Walk(value, child, lines);
                }
                break;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    var child = $"{path}[{i}]";
                    lines.TryAdd(child, (int)sequence.Children[i].Start.Line);
                    Walk(sequence.Children[i], child, lines);
                }
                break;
        }
    }

    [GeneratedRegex("Property '([^']*)' not found on type '([^']*)'")]
    private static partial Regex UnknownProperty();
}

/// <summary>A workflow file that cannot be used; the message starts with <c>file:line:</c> where known.</summary>
public sealed class WorkflowFileException(string message) : Exception(message);
