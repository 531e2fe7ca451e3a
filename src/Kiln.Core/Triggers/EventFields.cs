using System.Globalization;
using System.Text.RegularExpressions;
using Kiln.Contracts;

namespace Kiln.Core.Triggers;

/// <summary>
/// The names a rule may use as <c>${{ event.NAME }}</c> in its params and input key: the event's
/// id, source and type, and every fact (<see cref="EventFacts"/>, spelled as in the API). A fact
/// the event does not have substitutes as the empty string.
/// </summary>
public static partial class EventFields
{
    private static readonly Dictionary<string, Func<TriggerEvent, string?>> Fields = new(StringComparer.Ordinal)
    {
        ["id"] = e => e.Id.ToString(CultureInfo.InvariantCulture),
        ["source"] = e => e.Source,
        ["type"] = e => e.Type,
        ["repository"] = e => e.Facts.Repository,
        ["ref"] = e => e.Facts.Ref,
        ["branch"] = e => e.Facts.Branch,
        ["baseBranch"] = e => e.Facts.BaseBranch,
        ["tag"] = e => e.Facts.Tag,
        ["sha"] = e => e.Facts.Sha,
        ["before"] = e => e.Facts.Before,
        ["pullRequest"] = e => e.Facts.PullRequest?.ToString(CultureInfo.InvariantCulture),
        ["action"] = e => e.Facts.Action,
        ["sender"] = e => e.Facts.Sender,
        ["cloneUrl"] = e => e.Facts.CloneUrl,
        ["defaultBranch"] = e => e.Facts.DefaultBranch,
        ["buildId"] = e => e.Facts.BuildId?.ToString(CultureInfo.InvariantCulture),
        ["package"] = e => e.Facts.Package,
        ["version"] = e => e.Facts.Version,
        ["release"] = e => e.Facts.Release,
        ["nvr"] = e => e.Facts.Package is { } n ? $"{n}-{e.Facts.Version}-{e.Facts.Release}" : null,
        ["kojiTag"] = e => e.Facts.KojiTag,
        ["owner"] = e => e.Facts.Owner,
        ["instance"] = e => e.Facts.Instance,
        ["rule"] = e => e.Facts.Rule,
        ["slot"] = e => e.Facts.Slot?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
    };

    public static IEnumerable<string> Names => Fields.Keys;

    [GeneratedRegex(@"\$\{\{\s*([^}]*?)\s*\}\}")]
    private static partial Regex Expression();

    /// <summary>The expressions of <paramref name="template"/> that are not <c>event.NAME</c> with a known NAME.</summary>
    public static IEnumerable<string> Unknown(string template) =>
        Expression().Matches(template).Select(m => m.Groups[1].Value)
            .Where(x => !(x.StartsWith("event.", StringComparison.Ordinal) && Fields.ContainsKey(x["event.".Length..])));

    public static string Substitute(string template, TriggerEvent e) =>
        Expression().Replace(template, m =>
        {
            var x = m.Groups[1].Value;
            return x.StartsWith("event.", StringComparison.Ordinal) && Fields.TryGetValue(x["event.".Length..], out var get)
                ? get(e) ?? ""
                : m.Value;
        });
}
