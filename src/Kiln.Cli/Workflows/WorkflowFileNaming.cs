using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Kiln.Cli.Workflows;

/// <summary>
/// Keys of a workflow file: camelCase like the API's JSON, except the few the API spells with a
/// hyphen (<c>allow-failure</c>, as <c>JsonPropertyName</c> declares on the contract).
/// </summary>
internal sealed class WorkflowFileNaming : INamingConvention
{
    public static readonly WorkflowFileNaming Instance = new();

    public string Apply(string value) => value == "AllowFailure" ? "allow-failure" : CamelCaseNamingConvention.Instance.Apply(value);

    public string Reverse(string value) => value == "allow-failure" ? "AllowFailure" : CamelCaseNamingConvention.Instance.Reverse(value);
}
