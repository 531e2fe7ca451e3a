using System.Text.RegularExpressions;

namespace Kiln.Core;

/// <summary>The shapes of names users choose; kept strict so they are safe in URLs, logs and shells.</summary>
public static partial class Names
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    public static partial Regex Identifier();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    public static partial Regex EnvironmentVariable();

    /// <summary>A project secret's name (the variable the task gets): upper case, digits and '_', at most 100; the same as project_secrets' CHECK.</summary>
    [GeneratedRegex("^[A-Z_][A-Z0-9_]{0,99}$")]
    public static partial Regex SecretName();

    [GeneratedRegex(@"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")]
    public static partial Regex MatrixReference();

    [GeneratedRegex(@"\$\{\{\s*params\.([A-Za-z0-9_.-]+?)\s*\}\}")]
    public static partial Regex ParameterReference();

    public const string DefaultQueue = "builds";
    public const string DefaultProject = "default";

    /// <summary>An environment name: DISTRIBUTION/NAME, such as <c>debian/bookworm-amd64</c>.</summary>
    [GeneratedRegex(@"^[a-z0-9][a-z0-9.+_-]{0,48}/[a-z0-9][a-z0-9.+_-]{0,48}$")]
    public static partial Regex EnvironmentName();
}
