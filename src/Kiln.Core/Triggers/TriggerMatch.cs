using Kiln.Contracts;

namespace Kiln.Core.Triggers;

/// <summary>
/// Whether a rule's filter takes an event, and if not, why — in words a user can act on. The
/// checks run in a fixed order (source, type, then the patterns: repository, branch, tag, Koji tag,
/// package); <see cref="Why"/> is the first that failed and <see cref="Passed"/> counts the checks
/// passed (all the patterns are tried once source and type agree), so the rule that fails the
/// fewest is the "closest rule" an unmatched event names.
/// </summary>
public sealed record TriggerMatch(bool Matched, int Passed, string? Why)
{
    /// <summary>The event types a rule takes when it names none.</summary>
    public static IReadOnlyList<string> DefaultTypes(string source) => source switch
    {
        EventSources.Koji => [EventTypes.KojiTag],
        EventSources.Schedule => [EventTypes.Schedule],
        EventSources.Manual => [EventTypes.Manual],
        _ => [EventTypes.Push],
    };

    public static bool SourceTakes(string ruleSource, string eventSource) =>
        ruleSource == eventSource || (ruleSource == "forge" && EventSources.Forges.Contains(eventSource));

    public static TriggerMatch Of(TriggerRuleDocument rule, TriggerEvent e)
    {
        var source = rule.Source ?? "";
        var passed = 0;
        if (!SourceTakes(source, e.Source))
        {
            return new(false, passed, $"it takes {source} events, this is a {e.Source} event");
        }
        passed++;
        var types = rule.Types is { Count: > 0 } t ? t : DefaultTypes(source == "forge" ? EventSources.GitHub : source);
        if (!types.Contains(e.Type))
        {
            return new(false, passed, $"it takes {string.Join(", ", types)} events, this is a {e.Type} event");
        }
        passed++;
        if (e.Facts.Deleted == true)
        {
            return new(false, passed, $"the push deleted {e.Facts.Ref ?? "its ref"}: there is nothing to build");
        }
        var facts = e.Facts;
        string? why = null;
        foreach (var (name, patterns, value) in new (string, List<string>?, string?)[]
        {
            ("repository", rule.Repositories, facts.Repository),
            ("branch", rule.Branches, facts.Branch),
            ("tag", rule.Tags, facts.Tag),
            ("Koji tag", rule.KojiTags, facts.KojiTag),
            ("package", rule.Packages, facts.Package),
        })
        {
            var failed = patterns is not { Count: > 0 } ? null
                : value is null ? $"it filters by {name} ({string.Join(", ", patterns)}) and the event has no {name}"
                : !GlobPattern.Any(patterns, value) ? $"{name} '{value}' matches none of {string.Join(", ", patterns)}"
                : null;
            if (failed is null)
            {
                passed++;
            }
            else
            {
                why ??= failed;
            }
        }
        if (why is not null)
        {
            return new(false, passed, why);
        }
        return new(true, passed, null);
    }
}
