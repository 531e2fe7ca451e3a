using System.Text;
using System.Text.RegularExpressions;

namespace Kiln.Core.Triggers;

/// <summary>
/// A branch, tag, repository or package pattern as GitHub Actions writes them: <c>*</c> matches
/// any run of characters but <c>/</c>, <c>**</c> any run at all, <c>?</c> one character but
/// <c>/</c>; everything else matches itself. Compiled to a non-backtracking regex, so a pattern
/// from a rules file cannot make matching slow.
/// </summary>
public sealed class GlobPattern
{
    private readonly Regex _regex;

    private GlobPattern(string text, Regex regex)
    {
        Text = text;
        _regex = regex;
    }

    public string Text { get; }

    public static GlobPattern Parse(string pattern)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                sb.Append(".*");
                i++;
            }
            else if (c == '*')
            {
                sb.Append("[^/]*");
            }
            else if (c == '?')
            {
                sb.Append("[^/]");
            }
            else
            {
                sb.Append(Regex.Escape(c.ToString()));
            }
        }
        sb.Append('$');
        return new GlobPattern(pattern, new Regex(sb.ToString(), RegexOptions.NonBacktracking | RegexOptions.CultureInvariant));
    }

    public bool Matches(string value) => _regex.IsMatch(value);

    /// <summary>Whether <paramref name="value"/> matches any of <paramref name="patterns"/>.</summary>
    public static bool Any(IEnumerable<string> patterns, string value) => patterns.Any(p => Cached(p).Matches(value));

    /// <summary>Compiled patterns by text: every event is matched against the same few rules' patterns.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, GlobPattern> Compiled = new(StringComparer.Ordinal);

    private const int MaxCompiled = 10_000;

    private static GlobPattern Cached(string pattern)
    {
        if (Compiled.TryGetValue(pattern, out var compiled))
        {
            return compiled;
        }
        if (Compiled.Count >= MaxCompiled)
        {
            Compiled.Clear();
        }
        return Compiled[pattern] = Parse(pattern);
    }
}
