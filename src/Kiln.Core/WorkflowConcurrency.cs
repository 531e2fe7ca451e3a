using System.Text;
using System.Text.RegularExpressions;
using Kiln.Contracts;

namespace Kiln.Core;

/// <summary>
/// Checks a document's <c>concurrency</c> (GitHub Actions' <c>concurrency:</c>) and works out its
/// group: <c>group</c> is required, may use <c>${{ params.NAME }}</c>, <c>${{ branch }}</c> and
/// <c>${{ workflow }}</c>, and is at most <see cref="MaxGroupLength"/> characters of one line once
/// substituted; <c>exempt-branches</c> are globs (<c>*</c> within a path segment, <c>**</c> across
/// them, <c>?</c> one character) — a workflow whose <c>branch</c> matches one is in no group at all.
/// </summary>
public static partial class WorkflowConcurrency
{
    /// <summary>The same bound as <c>workflows.concurrency_group</c>'s CHECK.</summary>
    public const int MaxGroupLength = 200;

    public const int MaxExemptBranches = 50;

    [GeneratedRegex(@"\$\{\{\s*([A-Za-z0-9_.-]+?)\s*\}\}")]
    private static partial Regex Reference();

    /// <summary>The planned group, or null (no <c>concurrency</c>, an exempt branch, or errors naming <c>concurrency.…</c>).</summary>
    public static PlannedConcurrency? Resolve(List<ValidationError> errors, WorkflowDocument doc, string name, IReadOnlyDictionary<string, string> parameters)
    {
        if (doc.Concurrency is not { } concurrency)
        {
            return null;
        }
        var before = errors.Count;
        var exempt = concurrency.ExemptBranches ?? [];
        if (exempt.Count > MaxExemptBranches)
        {
            errors.Add(new("concurrency.exempt-branches", $"at most {MaxExemptBranches} patterns"));
        }
        for (var i = 0; i < Math.Min(exempt.Count, MaxExemptBranches); i++)
        {
            if (exempt[i] is not { Length: > 0 and <= 200 } pattern || SafeText.Problem(pattern, multiline: false) is not null)
            {
                errors.Add(new($"concurrency.exempt-branches[{i}]", "a branch pattern is 1 to 200 characters of one line, such as 'main' or 'release/*'"));
            }
        }
        string? group = null;
        if (string.IsNullOrWhiteSpace(concurrency.Group))
        {
            errors.Add(new("concurrency.group", "a concurrency group needs a name, such as '${{ branch }}' or 'deploy'"));
        }
        else if (concurrency.Group.Length > 1000 || SafeText.Problem(concurrency.Group, multiline: false) is not null)
        {
            errors.Add(new("concurrency.group", "the group is one line of text of at most 1000 characters before substitution"));
        }
        else
        {
            group = Substitute(errors, concurrency.Group, doc.Branch ?? "", name, parameters);
            if (group is not null && (group.Trim().Length == 0 || group.Length > MaxGroupLength))
            {
                errors.Add(new("concurrency.group", $"with its references substituted the group is '{Cut(group)}': it must be 1 to {MaxGroupLength} characters and not blank"));
            }
        }
        if (errors.Count > before || group is null)
        {
            return null;
        }
        if (doc.Branch is { } branch && exempt.Any(p => Matches(p, branch)))
        {
            return null;
        }
        return new PlannedConcurrency(group, concurrency.CancelInProgress ?? false);
    }

    private static string? Substitute(List<ValidationError> errors, string template, string branch, string name, IReadOnlyDictionary<string, string> parameters)
    {
        var bad = false;
        var result = Reference().Replace(template, m =>
        {
            var reference = m.Groups[1].Value;
            if (reference == "branch")
            {
                return branch;
            }
            if (reference == "workflow")
            {
                return name;
            }
            if (reference.StartsWith("params.", StringComparison.Ordinal) && parameters.TryGetValue(reference["params.".Length..], out var value))
            {
                return value;
            }
            bad = true;
            errors.Add(new("concurrency.group", $"'{Cut(m.Value)}' is not known here; a group may use ${{{{ branch }}}}, ${{{{ workflow }}}} and ${{{{ params.NAME }}}} of a declared parameter"));
            return m.Value;
        });
        if (!bad && result.Contains("${{", StringComparison.Ordinal))
        {
            errors.Add(new("concurrency.group", "'${{' starts a reference that is not closed with '}}'"));
            bad = true;
        }
        return bad ? null : result;
    }

    /// <summary>Whether <paramref name="branch"/> matches the glob <paramref name="pattern"/> (whole name, case-sensitive).</summary>
    public static bool Matches(string pattern, string branch)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                regex.Append(".*");
                i++;
            }
            else if (c == '*')
            {
                regex.Append("[^/]*");
            }
            else if (c == '?')
            {
                regex.Append("[^/]");
            }
            else
            {
                regex.Append(Regex.Escape(c.ToString()));
            }
        }
        regex.Append('$');
        return Regex.IsMatch(branch, regex.ToString(), RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
    }

    private static string Cut(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
