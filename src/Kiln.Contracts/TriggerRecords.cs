using System.Text.Json.Serialization;

namespace Kiln.Contracts;

/// <summary>
/// A project's trigger rules as <c>kiln trigger set PROJECT rules.yaml</c> sends them: the file as
/// written (kept, versioned), its rules read, and the workflow files the rules name (docs/events.md).
/// </summary>
public sealed record TriggerSetRequest
{
    /// <summary>The rules file as written; stored as the version's document.</summary>
    public string? Text { get; init; }

    public List<TriggerRuleDocument>? Rules { get; init; }

    /// <summary>The workflow documents the rules name, by the path written in <see cref="TriggerRuleDocument.Workflow"/>.</summary>
    public Dictionary<string, WorkflowDocument>? Workflows { get; init; }
}

/// <summary>One rule: which events (the filter), which workflow, with which parameters.</summary>
public sealed record TriggerRuleDocument
{
    /// <summary>The rule's name, unique in the project; its identity across versions of the file.</summary>
    public string? Name { get; init; }

    /// <summary>github, gitlab, forgejo, forge (any of the three), koji, schedule or manual.</summary>
    public string? Source { get; init; }

    /// <summary>Event types (push, tag, pull_request, release, buildsys.tag, buildsys.untag); default push for a forge, buildsys.tag for koji.</summary>
    public List<string>? Types { get; init; }

    /// <summary>Branch globs (<c>main</c>, <c>release/*</c>); an event without a branch does not match a rule that sets them.</summary>
    public List<string>? Branches { get; init; }

    /// <summary>Tag globs (<c>v*</c>).</summary>
    public List<string>? Tags { get; init; }

    /// <summary>Repository globs (owner/name).</summary>
    public List<string>? Repositories { get; init; }

    /// <summary>Koji tag globs (<c>eln</c>, <c>f4?-updates-candidate</c>).</summary>
    [JsonPropertyName("koji-tags")]
    public List<string>? KojiTags { get; init; }

    /// <summary>Package name globs.</summary>
    public List<string>? Packages { get; init; }

    /// <summary>A schedule rule's cron expression (five fields, UTC).</summary>
    public string? Schedule { get; init; }

    /// <summary>The workflow file to submit, as named to <c>kiln trigger set</c> (relative to the rules file).</summary>
    public string? Workflow { get; init; }

    /// <summary>Parameter values for the workflow; may use <c>${{ event.NAME }}</c>.</summary>
    public Dictionary<string, string>? Params { get; init; }

    /// <summary>The input key (with <c>${{ event.NAME }}</c>); default per source (docs/events.md). The workflow's SHA-256 is always added.</summary>
    [JsonPropertyName("input-key")]
    public string? InputKey { get; init; }

    /// <summary>The storm guard: at most this many workflows in the window; beyond, they are created held.</summary>
    public BurstDocument? Burst { get; init; }

    /// <summary>Put into the submitted workflow's <see cref="WorkflowDocument.Concurrency"/>.</summary>
    public ConcurrencyDocument? Concurrency { get; init; }
}

/// <summary>A burst limit: <see cref="Limit"/> workflows per <see cref="Window"/> (<c>10m</c>, <c>1h</c>, <c>30s</c>).</summary>
public sealed record BurstDocument
{
    public int? Limit { get; init; }

    public string? Window { get; init; }
}

/// <summary>The project's current rules (<c>kiln trigger show</c>).</summary>
public sealed record TriggerSetView(string Project, int Version, string Text, DateTimeOffset CreatedAt, string? CreatedBy, IReadOnlyList<TriggerRuleView> Rules);

/// <summary>One rule, how it stands.</summary>
/// <param name="WorkflowSha256">The SHA-256 of the workflow it submits (part of every input key).</param>
/// <param name="BurstLimit">The storm guard in effect: at most this many workflows per <paramref name="BurstWindowSeconds"/>.</param>
public sealed record TriggerRuleView(
    long Id, string Name, string Source, int Version, bool Active, bool Paused, string Workflow, string WorkflowSha256,
    int BurstLimit, int BurstWindowSeconds, string? Schedule, DateTimeOffset? LastScheduledAt, TriggerRuleDocument Definition);

/// <summary>One version of a project's rules file (<c>kiln trigger history</c>).</summary>
public sealed record TriggerVersionView(int Version, DateTimeOffset CreatedAt, string? CreatedBy, IReadOnlyList<string> Rules);

/// <summary>Run a rule by hand (<c>kiln trigger run PROJECT RULE</c>).</summary>
/// <param name="InputKey">Given: a second run with the same key creates nothing. Default: a fresh key, so every run builds.</param>
public sealed record TriggerRunRequest(Dictionary<string, string>? Params = null, string? InputKey = null);

/// <summary>
/// What to pause or resume: exactly one of a source, a repository link, or a project's rule.
/// </summary>
public sealed record EventPauseRequest(string? Source = null, long? Link = null, string? Project = null, string? Rule = null);

/// <summary>The answer to a pause or resume.</summary>
/// <param name="Backlog">On resume: how many kept events were put back to be processed (in arrival order).</param>
public sealed record EventPauseView(string Target, bool Paused, int Backlog);
