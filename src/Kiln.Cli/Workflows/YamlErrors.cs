using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Kiln.Cli.Workflows;

/// <summary>
/// A YAML error as one line a packager can act on: <c>file:line:column: field: what is wrong</c>.
/// YamlDotNet reports some mistakes far from their cause (a tab in the indentation surfaces at
/// 1:1, a list where the file should be a mapping as "no node deserializer … WorkflowDocument"),
/// so those are recognised first.
/// </summary>
internal static class YamlErrors
{
    public static string Describe(string path, string text, YamlException e, Func<YamlException, string> explain)
    {
        YamlNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            if (stream.Documents.Count == 0)
            {
                return $"{path}: the file is empty";
            }
            root = stream.Documents[0].RootNode;
        }
        catch (YamlException syntax)
        {
            // A tab is legal inside a block of text, so it is blamed only when the file does not parse at all.
            if (TabIndentedLine(text) is { } tab && (tab.Line <= syntax.Start.Line || syntax.Start.Line <= 1))
            {
                return $"{path}:{tab.Line}:{tab.Column}: a tab indents this line; YAML indents with spaces only — replace the tab with spaces";
            }
            return $"{path}:{syntax.Start.Line}:{syntax.Start.Column}: {explain(syntax)}";
        }
        if (root is not YamlMappingNode)
        {
            var kind = root is YamlSequenceNode ? "a list" : "a single value";
            return $"{path}:{root.Start.Line}:{root.Start.Column}: a workflow file is a mapping of keys (name:, project:, defaults:, jobs:), not {kind}";
        }
        var field = FieldAt(root, "", (int)e.Start.Line);
        var message = explain(e);
        if (message.EndsWith("a different kind of value here", StringComparison.Ordinal) && field is not null && TypeAt(field) is { } type)
        {
            message = $"expected {WorkflowFile.Kind($"{type.Namespace}.{type.Name}")} here";
        }
        return $"{path}:{e.Start.Line}:{e.Start.Column}: {(field is { Length: > 0 } ? field + ": " : "")}{message}";
    }

    /// <summary>The first line whose indentation holds a tab (line and column are 1-based).</summary>
    private static (int Line, int Column)? TabIndentedLine(string text)
    {
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var indent = line.Length - line.TrimStart(' ', '\t').Length;
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab >= 0 && tab < indent && indent < line.TrimEnd('\r').Length)
            {
                return (i + 1, tab + 1);
            }
        }
        return null;
    }

    /// <summary>
    /// The deepest key (as an API field path) that <paramref name="line"/> belongs to: at each
    /// level the last key starting at or before it (YamlDotNet's node end marks cover only a
    /// collection's first token, so spans cannot be used).
    /// </summary>
    private static string? FieldAt(YamlNode node, string path, int line)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                var (key, value) = mapping.Children.LastOrDefault(c => c.Key.Start.Line <= line);
                if (key is null)
                {
                    return null;
                }
                var name = key is YamlScalarNode scalar ? scalar.Value ?? "" : key.ToString();
                var child = path.Length == 0 ? name : $"{path}.{name}";
                return value is YamlScalarNode || value.Start.Line > line ? child : FieldAt(value, child, line) ?? child;
            case YamlSequenceNode sequence:
                var index = sequence.Children.Count(c => c.Start.Line <= line) - 1;
                return index < 0 ? null : FieldAt(sequence.Children[index], $"{path}[{index}]", line) ?? $"{path}[{index}]";
            default:
                return null;
        }
    }

    /// <summary>The .NET type a field path of <see cref="Kiln.Contracts.WorkflowDocument"/> holds (for "expected a whole number").</summary>
    public static Type? TypeAt(string field)
    {
        Type? type = typeof(Kiln.Contracts.WorkflowDocument);
        foreach (var segment in field.Replace("[", ".[", StringComparison.Ordinal).Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            type = Nullable.GetUnderlyingType(type!) ?? type;
            var generic = type!.IsGenericType ? type.GetGenericArguments() : [];
            if (segment.StartsWith('['))
            {
                type = type.IsArray ? type.GetElementType() : generic.LastOrDefault();
            }
            else if (generic.Length == 2)
            {
                type = generic[1];
            }
            else
            {
                type = type.GetProperties().FirstOrDefault(p => string.Equals(p.Name, segment, StringComparison.OrdinalIgnoreCase))?.PropertyType;
            }
            if (type is null)
            {
                return null;
            }
        }
        return Nullable.GetUnderlyingType(type!) ?? type;
    }
}
