using Kiln.Contracts;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Kiln.Cli.Workflows;

/// <summary>
/// A rules file (<c>kiln trigger set PROJECT rules.yaml</c>, docs/events.md): a mapping with
/// <c>rules:</c>, a list of rules. Strict like a workflow file (an unknown or repeated key is an
/// error naming its line). The workflow files the rules name are read beside it, relative to the
/// rules file's directory, and sent with it under the names written in the rules.
/// </summary>
public static class TriggerFile
{
    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(TriggerNaming.Instance)
        .WithDuplicateKeyChecking()
        .Build();

    /// <exception cref="WorkflowFileException">The file (or a workflow it names) cannot be read or is not valid.</exception>
    public static TriggerSetRequest Load(string path)
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
        RulesFile file;
        try
        {
            file = Yaml.Deserialize<RulesFile?>(text) ?? throw new WorkflowFileException($"{path}: the file is empty");
        }
        catch (YamlException e)
        {
            var inner = e.InnerException is YamlException nested ? nested : e;
            throw new WorkflowFileException($"{path}:{e.Start.Line}:{e.Start.Column}: {inner.Message.Replace("Property '", "unknown key '", StringComparison.Ordinal)}");
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var workflows = new Dictionary<string, WorkflowDocument>(StringComparer.Ordinal);
        for (var i = 0; i < (file.Rules?.Count ?? 0); i++)
        {
            if (file.Rules![i]?.Workflow is { Length: > 0 } workflow && !workflows.ContainsKey(workflow))
            {
                var full = Path.Combine(directory, workflow);
                if (!File.Exists(full))
                {
                    throw new WorkflowFileException($"{path}: rules[{i}].workflow: '{workflow}' does not exist (looked for {full})");
                }
                workflows[workflow] = WorkflowFile.Load(full).Document;
            }
        }
        return new TriggerSetRequest { Text = text, Rules = file.Rules, Workflows = workflows };
    }

    private sealed class RulesFile
    {
        public List<TriggerRuleDocument>? Rules { get; set; }
    }

    /// <summary>camelCase, except the keys written with a hyphen (koji-tags, input-key, cancel-in-progress, exempt-branches).</summary>
    private sealed class TriggerNaming : INamingConvention
    {
        public static readonly TriggerNaming Instance = new();

        private static readonly Dictionary<string, string> Hyphenated = new(StringComparer.Ordinal)
        {
            ["KojiTags"] = "koji-tags",
            ["InputKey"] = "input-key",
            ["CancelInProgress"] = "cancel-in-progress",
            ["ExemptBranches"] = "exempt-branches",
        };

        public string Apply(string value) => Hyphenated.TryGetValue(value, out var h) ? h : CamelCaseNamingConvention.Instance.Apply(value);

        public string Reverse(string value) => Hyphenated.FirstOrDefault(p => p.Value == value).Key ?? CamelCaseNamingConvention.Instance.Reverse(value);
    }
}
