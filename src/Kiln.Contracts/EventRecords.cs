using System.Text.Json.Serialization;

namespace Kiln.Contracts;

/// <summary>Where events come from (<c>events.source</c>).</summary>
public static class EventSources
{
    public const string GitHub = "github";
    public const string GitLab = "gitlab";
    public const string Forgejo = "forgejo";
    public const string Koji = "koji";
    public const string Schedule = "schedule";
    public const string Manual = "manual";

    public static readonly IReadOnlyList<string> All = [GitHub, GitLab, Forgejo, Koji, Schedule, Manual];
    public static readonly IReadOnlyList<string> Forges = [GitHub, GitLab, Forgejo];
}

/// <summary>What an event is, after normalisation across forges (<c>events.event_type</c>).</summary>
public static class EventTypes
{
    /// <summary>Commits pushed to a branch.</summary>
    public const string Push = "push";
    /// <summary>A tag pushed (GitHub and Forgejo send it as a push to refs/tags/…, GitLab as tag_push).</summary>
    public const string Tag = "tag";
    /// <summary>A pull request (GitLab: merge request) opened, reopened or updated (<see cref="EventFacts.Action"/>).</summary>
    public const string PullRequest = "pull_request";
    public const string Release = "release";
    public const string Ping = "ping";
    /// <summary>Koji: a build tagged into a tag (<c>buildsys.tag</c>).</summary>
    public const string KojiTag = "buildsys.tag";
    /// <summary>Koji: a build removed from a tag (<c>buildsys.untag</c>).</summary>
    public const string KojiUntag = "buildsys.untag";
    /// <summary>A schedule rule's slot came (cron).</summary>
    public const string Schedule = "schedule";
    /// <summary>Someone ran a rule by hand (kiln trigger run).</summary>
    public const string Manual = "manual";
}

/// <summary>Processing states of an event (<c>events.state</c>).</summary>
public static class EventStates
{
    /// <summary>Stored and acknowledged; processing has not applied the rules yet (or its source, link or rules are paused).</summary>
    public const string Received = "received";
    /// <summary>Rules were applied: <see cref="EventView.Effects"/> says what each did.</summary>
    public const string Processed = "processed";
    /// <summary>A type Kiln does not act on (stored for the record).</summary>
    public const string Ignored = "ignored";
    /// <summary>Failed verification (bad signature, unknown repository) or was malformed: a security event, never processed.</summary>
    public const string Rejected = "rejected";

    public static readonly IReadOnlyList<string> All = [Received, Processed, Ignored, Rejected];
}

/// <summary>What processing an event did (<see cref="EventEffect.Kind"/>).</summary>
public static class EventEffectKinds
{
    /// <summary>A workflow was created and may run.</summary>
    public const string Created = "created";
    /// <summary>A workflow was created held by the storm guard: it runs once approved.</summary>
    public const string Held = "held";
    /// <summary>A workflow was created queued behind its concurrency group's running one.</summary>
    public const string Queued = "queued";
    /// <summary>This event's workflow replaced an older pending one of its concurrency group (which ended superseded).</summary>
    public const string Superseded = "superseded";
    /// <summary>This event's workflow cancelled the running one of its group (cancel-in-progress).</summary>
    public const string CancelledRunning = "cancelled-running";
    /// <summary>The rule already made a workflow for the same inputs: nothing new was created.</summary>
    public const string Unchanged = "unchanged";
    /// <summary>No rule matched; the message names the closest rule and why it did not.</summary>
    public const string NoMatch = "no-match";
    /// <summary>Its source, link or rule is paused: kept, and processed on resume.</summary>
    public const string Paused = "paused";
    /// <summary>Not a type Kiln acts on.</summary>
    public const string Ignored = "ignored";
    /// <summary>Verification failed or the payload was malformed.</summary>
    public const string Rejected = "rejected";
    /// <summary>A rule matched but its workflow could not be submitted (the message says why).</summary>
    public const string Failed = "failed";
}

/// <summary>
/// What was read from an event, the same names whatever the forge (stored in <c>events.facts</c>);
/// trigger rules filter on these and take parameters from them as <c>${{ event.NAME }}</c>.
/// </summary>
public sealed record EventFacts
{
    /// <summary>owner/name (GitLab: the full path).</summary>
    public string? Repository { get; init; }
    /// <summary>The full ref (refs/heads/main, refs/tags/v1.0, refs/pull/7/head).</summary>
    public string? Ref { get; init; }
    /// <summary>The branch pushed, or a pull request's head branch.</summary>
    public string? Branch { get; init; }
    /// <summary>A pull request's target branch.</summary>
    public string? BaseBranch { get; init; }
    public string? Tag { get; init; }
    /// <summary>The commit the event is about (a push's new head, a pull request's head).</summary>
    public string? Sha { get; init; }
    /// <summary>A push's previous head.</summary>
    public string? Before { get; init; }
    /// <summary>A pull request's number (GitLab: the merge request's iid).</summary>
    public long? PullRequest { get; init; }
    /// <summary>The forge's action (opened, reopened, synchronize, published, …).</summary>
    public string? Action { get; init; }
    /// <summary>Who caused it (forge login; Koji: the user who tagged).</summary>
    public string? Sender { get; init; }
    public string? CloneUrl { get; init; }
    public string? DefaultBranch { get; init; }
    /// <summary>A push that deleted its ref (nothing to build).</summary>
    public bool? Deleted { get; init; }

    /// <summary>Koji: the build's id.</summary>
    public long? BuildId { get; init; }
    /// <summary>Koji: the package name (a forge event: unset).</summary>
    public string? Package { get; init; }
    public string? Version { get; init; }
    public string? Release { get; init; }
    /// <summary>Koji: the tag the build was (un)tagged into.</summary>
    public string? KojiTag { get; init; }
    public string? Owner { get; init; }
    /// <summary>Koji: the instance (primary, …).</summary>
    public string? Instance { get; init; }

    /// <summary>Schedule and manual events: the rule they were made for.</summary>
    public string? Rule { get; init; }
    /// <summary>Schedule and manual events: the project of <see cref="Rule"/>.</summary>
    public string? Project { get; init; }
    /// <summary>Manual: the input key given (a second run with it creates nothing).</summary>
    public string? InputKey { get; init; }
    /// <summary>Schedule: the slot (the cron time it stands for).</summary>
    public DateTimeOffset? Slot { get; init; }
    /// <summary>Manual: the parameters given.</summary>
    public Dictionary<string, string>? Params { get; init; }
}

/// <summary>One thing processing did with an event, in words, with the workflow and rule it concerns.</summary>
public sealed record EventEffect(string Kind, string Message, long? WorkflowId = null, string? Rule = null, string? Project = null);

/// <summary>An event in a listing.</summary>
/// <param name="Summary">The effects in one line (what <c>kiln events list</c> shows).</param>
public sealed record EventSummary(
    long Id, string Source, string Type, string State, string? DeliveryKey, IReadOnlyList<long> LinkIds,
    DateTimeOffset ReceivedAt, DateTimeOffset? ProcessedAt, EventFacts Facts, string Summary);

/// <summary>An event with what it caused, in order.</summary>
/// <param name="Headers">The headers kept from the request (signatures are not kept).</param>
public sealed record EventView(
    long Id, string Source, string Type, string State, string? DeliveryKey, IReadOnlyList<long> LinkIds,
    DateTimeOffset ReceivedAt, DateTimeOffset? ProcessedAt, EventFacts Facts, IReadOnlyList<EventEffect> Effects,
    IReadOnlyDictionary<string, string> Headers, int BodySize, string? RemoteAddress);

/// <summary>The answer to a webhook or bus message: 202 when stored now, 200 for a delivery already stored.</summary>
public sealed record EventAccepted(long EventId, bool Duplicate, string State);

/// <summary>A workflow's concurrency group (GitHub Actions' <c>concurrency:</c>): at most one running and one pending per group.</summary>
public sealed record ConcurrencyDocument
{
    /// <summary>The group's name; may use <c>${{ params.NAME }}</c> and <c>${{ branch }}</c>.</summary>
    public string? Group { get; init; }

    /// <summary>A newer workflow of the group cancels the running one instead of waiting for it (written <c>cancel-in-progress</c>).</summary>
    [JsonPropertyName("cancel-in-progress")]
    public bool? CancelInProgress { get; init; }

    /// <summary>Branch patterns (globs) exempt from the group: their workflows are never queued, superseded or cancelled (written <c>exempt-branches</c>).</summary>
    [JsonPropertyName("exempt-branches")]
    public List<string>? ExemptBranches { get; init; }
}
