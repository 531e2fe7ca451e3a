using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cronos;
using Kiln.Contracts;

namespace Kiln.Core.Triggers;

/// <summary>A rule that passed validation, with what it submits.</summary>
/// <param name="WorkflowJson">The workflow document as stored with the rule (its JSON form).</param>
/// <param name="WorkflowSha256">SHA-256 of <paramref name="WorkflowJson"/>: part of every input key, so editing the workflow builds again.</param>
public sealed record ValidatedRule(TriggerRuleDocument Definition, string WorkflowJson, string WorkflowSha256, int BurstLimit, int BurstWindowSeconds);

/// <summary>
/// Validation of a rules file (docs/events.md): every problem is reported at once, naming its
/// field as <c>rules[N].field</c>, and a set with any problem stores nothing. The workflow each
/// rule names is planned with its params (expressions standing for event values), so a workflow
/// that would never submit is refused now rather than at the first event.
/// </summary>
public static class TriggerRules
{
    public const int DefaultBurstLimit = 50;
    public const int DefaultBurstWindowSeconds = 600;
    public const int MaxRules = 200;
    public const int MaxTextBytes = 256 * 1024;
    public const int MaxPatterns = 50;

    public static readonly IReadOnlyList<string> RuleSources =
        [EventSources.GitHub, EventSources.GitLab, EventSources.Forgejo, "forge", EventSources.Koji, EventSources.Schedule, EventSources.Manual];

    private static readonly string[] ForgeTypes = [EventTypes.Push, EventTypes.Tag, EventTypes.PullRequest, EventTypes.Release];
    private static readonly string[] KojiTypes = [EventTypes.KojiTag, EventTypes.KojiUntag];

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static (List<ValidatedRule> Rules, List<ValidationError> Errors) Validate(TriggerSetRequest? request, string project, WorkflowPlanner planner)
    {
        var errors = new List<ValidationError>();
        var rules = new List<ValidatedRule>();
        if (request is null)
        {
            errors.Add(new("", "send the rules file: {\"text\": …, \"rules\": […], \"workflows\": {…}}"));
            return (rules, errors);
        }
        if (request.Text is null)
        {
            errors.Add(new("text", "the rules file as written is required"));
        }
        else if (Encoding.UTF8.GetByteCount(request.Text) > MaxTextBytes)
        {
            errors.Add(new("text", $"the rules file is larger than {MaxTextBytes / 1024} KiB"));
        }
        if (request.Rules is not { Count: > 0 } list)
        {
            errors.Add(new("rules", "at least one rule is required (to stop all triggers, pause them: kiln events pause --project P --rule R)"));
            return (rules, errors);
        }
        if (list.Count > MaxRules)
        {
            errors.Add(new("rules", $"at most {MaxRules} rules per project"));
            return (rules, errors);
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            var f = $"rules[{i}]";
            if (list[i] is not { } rule)
            {
                errors.Add(new(f, "a rule is a mapping (name:, source:, workflow:, …)"));
                continue;
            }
            var before = errors.Count;
            if (rule.Name is not { Length: > 0 } name)
            {
                errors.Add(new($"{f}.name", "required"));
            }
            else if (name.Length > 100 || !Names.Identifier().IsMatch(name))
            {
                errors.Add(new($"{f}.name", "letters, digits, '.', '_' and '-' (starting with a letter or digit), at most 100 characters"));
            }
            else if (!names.Add(name))
            {
                errors.Add(new($"{f}.name", $"a second rule named '{name}'; names are unique in a project"));
            }
            var source = rule.Source;
            if (source is null || !RuleSources.Contains(source))
            {
                errors.Add(new($"{f}.source", $"{(source is null ? "required" : $"'{Short(source)}' is not a source")}; use one of {string.Join(", ", RuleSources)}"));
            }
            else
            {
                CheckFilters(errors, f, rule, source);
            }
            CheckTemplates(errors, f, rule);
            var (limit, window) = CheckBurst(errors, f, rule.Burst);
            if (rule.Concurrency is { } c && (c.Group is not { Length: > 0 } || c.Group.Length > 200))
            {
                errors.Add(new($"{f}.concurrency.group", "required, at most 200 characters"));
            }
            WorkflowDocument? workflow = null;
            if (rule.Workflow is not { Length: > 0 } path)
            {
                errors.Add(new($"{f}.workflow", "required: the workflow file this rule submits"));
            }
            else if (request.Workflows?.GetValueOrDefault(path) is not { } w)
            {
                errors.Add(new($"{f}.workflow", $"'{Short(path)}' was not sent with the rules (kiln trigger set reads it beside the rules file)"));
            }
            else
            {
                workflow = w;
                var trial = Prepare(w, rule, project, null, placeholder: true);
                var (_, planErrors) = planner.Plan(trial);
                errors.AddRange(planErrors.Select(e => new ValidationError($"{f}.workflow", $"{path}: {(e.Field.Length > 0 ? e.Field + ": " : "")}{e.Message}")));
            }
            if (errors.Count == before && workflow is not null)
            {
                var json = JsonSerializer.Serialize(workflow, Json);
                rules.Add(new(rule, json, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json))), limit, window));
            }
        }
        return (rules, errors);
    }

    /// <summary>
    /// The document a rule submits for an event: the rule's project, its params with event values
    /// (a manual run's params over them), the event's branch, the trigger class of the source, and the
    /// rule's concurrency. With <paramref name="placeholder"/> (validation), expressions stand as written.
    /// </summary>
    public static WorkflowDocument Prepare(WorkflowDocument workflow, TriggerRuleDocument rule, string project, TriggerEvent? e, bool placeholder = false)
    {
        var values = new Dictionary<string, string>(workflow.Params ?? [], StringComparer.Ordinal);
        foreach (var (k, v) in rule.Params ?? [])
        {
            values[k] = e is null ? (placeholder ? "x" : v) : EventFields.Substitute(v, e);
        }
        foreach (var (k, v) in e?.Facts.Params ?? [])
        {
            values[k] = v;
        }
        return workflow with
        {
            Project = project,
            Params = values.Count > 0 ? values : null,
            Branch = e?.Facts.Branch ?? workflow.Branch,
            Trigger = TriggerOf(e?.Source ?? rule.Source, e?.Type),
            Concurrency = rule.Concurrency ?? workflow.Concurrency,
            IdempotencyKey = null,
        };
    }

    private static string TriggerOf(string? source, string? type) => source switch
    {
        EventSources.Schedule => "scheduled",
        EventSources.Manual => "manual",
        EventSources.Koji => "mass-rebuild",
        _ => type == EventTypes.PullRequest ? "pull-request" : "push",
    };

    /// <summary>The input key of an event for a rule (docs/events.md, "Input keys"): the rule's template or the source's default, then the workflow's SHA-256.</summary>
    public static string InputKey(TriggerRuleDocument rule, string workflowSha256, TriggerEvent e)
    {
        var facts = e.Facts;
        var key = e.Source == EventSources.Manual
            ? facts.InputKey is { } given ? $"manual:{given}" : $"manual:event-{e.Id}"
            : rule.InputKey is { } template
                ? EventFields.Substitute(template, e)
                : e.Source switch
                {
                    EventSources.Koji => $"{facts.Package}-{facts.Version}-{facts.Release}",
                    EventSources.Schedule => $"slot:{EventFields.Substitute("${{ event.slot }}", e)}",
                    _ => $"{facts.Repository}@{facts.Sha}",
                };
        return $"{key}#{workflowSha256}";
    }

    /// <summary>"10m", "1h", "30s", "2d" as seconds; null when not one.</summary>
    public static int? WindowSeconds(string text)
    {
        if (text.Length < 2 || !int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }
        long seconds = text[^1] switch { 's' => n, 'm' => n * 60L, 'h' => n * 3600L, 'd' => n * 86400L, _ => -1 };
        return seconds is >= 1 and <= 7 * 86400 ? (int)seconds : null;
    }

    public static CronExpression? Cron(string text)
    {
        try
        {
            return CronExpression.Parse(text, CronFormat.Standard);
        }
        catch (CronFormatException)
        {
            return null;
        }
    }

    private static void CheckFilters(List<ValidationError> errors, string f, TriggerRuleDocument rule, string source)
    {
        var forge = source is "forge" || EventSources.Forges.Contains(source);
        var allowed = forge ? ForgeTypes : source == EventSources.Koji ? KojiTypes : [];
        for (var j = 0; j < (rule.Types?.Count ?? 0); j++)
        {
            if (!allowed.Contains(rule.Types![j]))
            {
                errors.Add(new($"{f}.types[{j}]", allowed.Length == 0
                    ? $"a {source} rule takes no types"
                    : $"'{Short(rule.Types[j])}' is not a {source} event type; use {string.Join(", ", allowed)}"));
            }
        }
        CheckPatterns(errors, $"{f}.branches", rule.Branches, forge, source);
        CheckPatterns(errors, $"{f}.tags", rule.Tags, forge, source);
        CheckPatterns(errors, $"{f}.repositories", rule.Repositories, forge, source);
        CheckPatterns(errors, $"{f}.koji-tags", rule.KojiTags, source == EventSources.Koji, source);
        CheckPatterns(errors, $"{f}.packages", rule.Packages, source == EventSources.Koji, source);
        if (source == EventSources.Schedule)
        {
            if (rule.Schedule is not { Length: > 0 } cron)
            {
                errors.Add(new($"{f}.schedule", "required for a schedule rule: a cron expression (minute hour day month weekday, UTC), e.g. '0 3 * * *'"));
            }
            else if (cron.Length > 100 || Cron(cron) is null)
            {
                errors.Add(new($"{f}.schedule", $"'{Short(cron)}' is not a cron expression of five fields (minute hour day month weekday), e.g. '0 3 * * *'"));
            }
        }
        else if (rule.Schedule is not null)
        {
            errors.Add(new($"{f}.schedule", "only a schedule rule (source: schedule) has a schedule"));
        }
    }

    private static void CheckPatterns(List<ValidationError> errors, string field, List<string>? patterns, bool applies, string source)
    {
        if (patterns is null)
        {
            return;
        }
        if (!applies)
        {
            errors.Add(new(field, $"a {source} rule does not filter on this"));
            return;
        }
        if (patterns.Count > MaxPatterns)
        {
            errors.Add(new(field, $"at most {MaxPatterns} patterns"));
            return;
        }
        for (var j = 0; j < patterns.Count; j++)
        {
            if (patterns[j] is not { Length: > 0 and <= 200 } p || p.Any(char.IsControl))
            {
                errors.Add(new($"{field}[{j}]", "a pattern of 1 to 200 characters without control characters"));
            }
        }
    }

    private static void CheckTemplates(List<ValidationError> errors, string f, TriggerRuleDocument rule)
    {
        if (rule.Params is { Count: > 50 })
        {
            errors.Add(new($"{f}.params", "at most 50 params"));
            return;
        }
        foreach (var (k, v) in rule.Params ?? [])
        {
            if (v is null || v.Length > 1000 || v.Contains('\0', StringComparison.Ordinal))
            {
                errors.Add(new($"{f}.params.{Short(k)}", "a value of at most 1000 characters"));
            }
            else if (EventFields.Unknown(v).FirstOrDefault() is { } bad)
            {
                errors.Add(new($"{f}.params.{Short(k)}", Unknown(bad)));
            }
        }
        if (rule.InputKey is { } key)
        {
            if (key.Length is 0 or > 500 || key.Any(char.IsControl))
            {
                errors.Add(new($"{f}.input-key", "1 to 500 characters without control characters"));
            }
            else if (EventFields.Unknown(key).FirstOrDefault() is { } bad)
            {
                errors.Add(new($"{f}.input-key", Unknown(bad)));
            }
        }
    }

    private static string Unknown(string expression) =>
        $"'${{{{ {Short(expression)} }}}}' is not an event value; use ${{{{ event.NAME }}}} with NAME one of {string.Join(", ", EventFields.Names)}";

    private static (int Limit, int Window) CheckBurst(List<ValidationError> errors, string f, BurstDocument? burst)
    {
        var limit = burst?.Limit ?? DefaultBurstLimit;
        var window = DefaultBurstWindowSeconds;
        if (limit is < 1 or > 100_000)
        {
            errors.Add(new($"{f}.burst.limit", "a number of workflows from 1 to 100000"));
        }
        if (burst?.Window is { } text)
        {
            if (WindowSeconds(text) is { } seconds)
            {
                window = seconds;
            }
            else
            {
                errors.Add(new($"{f}.burst.window", $"'{Short(text)}' is not a window; write a number and s, m, h or d (e.g. 10m), at most 7d"));
            }
        }
        return (limit, window);
    }

    private static string Short(string s) => s.Length <= 60 ? s : s[..60] + "…";
}

