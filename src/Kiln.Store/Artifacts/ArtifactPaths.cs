using System.Text.RegularExpressions;

namespace Kiln.Store.Artifacts;

/// <summary>What an artifact's path and hash may look like. Checked before anything touches the disk.</summary>
public static partial class ArtifactPaths
{
    public const int MaxPathLength = 512;

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    public static bool IsSha256(string? value) => value is not null && Sha256Pattern().IsMatch(value);

    /// <summary>Null when <paramref name="path"/> is a clean relative path; otherwise what is wrong with it.</summary>
    public static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "the path is empty";
        }
        if (path.Length > MaxPathLength)
        {
            return $"the path is longer than {MaxPathLength} characters";
        }
        if (path.StartsWith('/'))
        {
            return "the path must be relative (no leading '/')";
        }
        if (path.Contains('\\') || path.Any(char.IsControl))
        {
            return "the path contains a backslash or a control character";
        }
        foreach (var segment in path.Split('/'))
        {
            if (segment is "" or "." or "..")
            {
                return $"the path may not contain empty, '.' or '..' segments ('{path}')";
            }
        }
        return null;
    }
}
