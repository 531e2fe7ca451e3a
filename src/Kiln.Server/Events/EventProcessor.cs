using System.Diagnostics;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Core.Triggers;
using Kiln.Server.Hosting;
using Kiln.Server.Packaging;
using Kiln.Store.Engine;
using Kiln.Store.Events;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Events;

/// <summary>
/// Applies the trigger rules to stored events (docs/events.md, "Processing"), one at a time in
/// arrival order: first the events kept for rules that were resumed, then the backlog. Each event
/// is locked while its rules run and marked processed, with its effects, in the same transaction;
/// a workflow is submitted with the event, rule and input key as its origin, so that processing
/// the event again after a crash between the two finds the workflow it made (the unique input key)
/// and records it, instead of making a second one. Every outcome becomes an effect in words.
/// </summary>
public sealed partial class EventProcessor(
    EventProcessingStore store, TriggerStore triggers, WorkflowSubmission submission, KilnServerOptions options, ILogger<EventProcessor> logger) : IDisposable
{
    /// <summary>Test-only fault switch: with this variable set to <c>kill</c>, the server kills itself (SIGKILL) after a workflow is stored and before its event is marked.</summary>
    public const string FaultVariable = "KILN_FAULT_EVENT_AFTER_SUBMIT";

    private const int Batch = 100;

    private static readonly bool KillAfterSubmit = Environment.GetEnvironmentVariable(FaultVariable) == "kill";

    private readonly SemaphoreSlim _one = new(1, 1);

    /// <summary>
    /// The rules by source (and linked projects), read once per batch of events: a rules file set
    /// or a pause takes effect from the next batch of at most <see cref="Batch"/> events.
    /// </summary>
    private readonly Dictionary<string, IReadOnlyList<StoredRule>> _rules = [];

    /// <summary>Processes what is waiting until nothing is, or <paramref name="mayRun"/> says stop (leadership lost); returns how many were processed.</summary>
    public async Task<int> DrainAsync(Func<bool> mayRun, CancellationToken ct)
    {
        await _one.WaitAsync(ct);
        try
        {
            var guard = new BurstGuard(store, options);
            var done = 0;
            IReadOnlyList<(long RuleId, long EventId)> kept;
            do
            {
                _rules.Clear();
                kept = await store.ReadyDeferralsAsync(Batch, ct);
                foreach (var (rule, id) in kept)
                {
                    if (!mayRun())
                    {
                        return done;
                    }
                    await using var claim = await store.ClaimDeferralAsync(rule, id, ct);
                    if (claim is not null)
                    {
                        await ProcessAsync(claim, guard, ct);
                        done++;
                    }
                }
            }
            while (kept.Count == Batch);
            IReadOnlyList<long> backlog;
            do
            {
                _rules.Clear();
                backlog = await store.BacklogAsync(Batch, ct);
                foreach (var id in backlog)
                {
                    if (!mayRun())
                    {
                        return done;
                    }
                    await using var claim = await store.ClaimAsync(id, ct);
                    if (claim is not null)
                    {
                        await ProcessAsync(claim, guard, ct);
                        done++;
                    }
                }
            }
            while (backlog.Count == Batch);
            return done;
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task ProcessAsync(EventClaim claim, BurstGuard guard, CancellationToken ct)
    {
        var e = claim.Event;
        var effects = new List<EventEffect>();
        var links = EventSources.Forges.Contains(e.Source) ? await store.LinksAsync(claim.LinkIds, ct) : [];
        foreach (var rule in await MatchingAsync(claim, links, effects, ct))
        {
            if (rule.Paused)
            {
                claim.Defer(rule.Id);
                effects.Add(new(EventEffectKinds.Paused,
                    $"rule {rule.Name} is paused: the event is kept for it and processed on resume (kiln events resume --project {rule.Project} --rule {rule.Name})",
                    Rule: rule.Name, Project: rule.Project));
                continue;
            }
            var own = links.Where(l => l.ProjectId == rule.ProjectId).ToList();
            if (own.Count > 0 && own.All(l => l.Paused))
            {
                claim.Defer(rule.Id);
                effects.Add(new(EventEffectKinds.Paused,
                    $"repository link {own[0].Id} is paused: the event is kept for rule {rule.Name} and processed on resume (kiln events resume --link {own[0].Id})",
                    Rule: rule.Name, Project: rule.Project));
                continue;
            }
            effects.Add(await SubmitAsync(rule, e, guard, ct));
        }
        await claim.FinishAsync(effects, store.Now, ct);
        LogProcessed(logger, e.Id, e.Source, e.Type, effects.Count == 0 ? "nothing" : string.Join(", ", effects.Select(x => x.Kind)));
    }

    /// <summary>The rules that take the event; when none does, an effect saying which came closest and why not.</summary>
    private async Task<IReadOnlyList<StoredRule>> MatchingAsync(EventClaim claim, IReadOnlyList<LinkState> links, List<EventEffect> effects, CancellationToken ct)
    {
        var e = claim.Event;
        if (claim.DeferredRule is { } kept)
        {
            if (await triggers.RuleAsync(kept, ct) is { Active: true } rule)
            {
                return [rule];
            }
            effects.Add(new(EventEffectKinds.NoMatch, $"the rule it was kept for (id {kept}) is no longer in its project's rules: nothing was submitted"));
            return [];
        }
        if (e.Source is EventSources.Schedule or EventSources.Manual)
        {
            if (e.Facts.Project is { } project && e.Facts.Rule is { } name && await triggers.RuleAsync(project, name, ct) is { Active: true } rule)
            {
                return [rule];
            }
            effects.Add(new(EventEffectKinds.NoMatch, $"rule {e.Facts.Rule} of project {e.Facts.Project} does not exist (any more): nothing was submitted",
                Rule: e.Facts.Rule, Project: e.Facts.Project));
            return [];
        }
        long[]? projects = null;
        if (EventSources.Forges.Contains(e.Source))
        {
            projects = [.. links.Select(l => l.ProjectId).Distinct()];
            if (projects.Length == 0)
            {
                effects.Add(new(EventEffectKinds.NoMatch, "no repository link verified this event, so no project's rules apply"));
                return [];
            }
        }
        var cacheKey = projects is null ? e.Source : $"{e.Source}:{string.Join(',', projects.Order())}";
        if (!_rules.TryGetValue(cacheKey, out var rules))
        {
            rules = _rules[cacheKey] = await triggers.RulesForAsync(e.Source, projects, ct);
        }
        if (rules.Count == 0)
        {
            effects.Add(new(EventEffectKinds.NoMatch, projects is null
                ? $"no rule matched: no project has a rule for {e.Source} events"
                : $"no rule matched: the linked project(s) have no rule for {e.Source} events"));
            return [];
        }
        var tried = rules.Select(r => (Rule: r, Match: TriggerMatch.Of(r.Definition, e))).ToList();
        var matched = tried.Where(t => t.Match.Matched).Select(t => t.Rule).ToList();
        if (matched.Count == 0)
        {
            var closest = tried.MaxBy(t => t.Match.Passed);
            effects.Add(new(EventEffectKinds.NoMatch,
                $"no rule matched: closest rule {closest.Rule.Name} (project {closest.Rule.Project}), because {closest.Match.Why}",
                Rule: closest.Rule.Name, Project: closest.Rule.Project));
        }
        return matched;
    }

    private async Task<EventEffect> SubmitAsync(StoredRule rule, TriggerEvent e, BurstGuard guard, CancellationToken ct)
    {
        var workflow = JsonSerializer.Deserialize<WorkflowDocument>(rule.WorkflowJson, TriggerRules.Json)!;
        var document = TriggerRules.Prepare(workflow, rule.Definition, rule.Project, e);
        var json = JsonSerializer.Serialize(document, TriggerRules.Json);
        var key = TriggerRules.InputKey(rule.Definition, rule.WorkflowSha256, e);
        if (await store.ExistingForInputAsync(rule.ProjectId, rule.Id, key, ct) is { } existing && existing.EventId != e.Id)
        {
            return Unchanged(rule, key, existing.WorkflowId, existing.EventId);
        }
        var hold = await guard.HoldReasonAsync(rule, e.Source, ct);
        var origin = new WorkflowOrigin(e.Id, rule.Id, key, hold is null ? null : WorkflowState.Held);
        var outcome = await submission.SubmitAsFarmAsync(document, json, ct, origin);
        if (outcome.Stored is not { } stored)
        {
            var why = outcome.Problem is ProblemHttpResult p ? p.ProblemDetails.Detail : "the workflow was refused";
            return new(EventEffectKinds.Failed, $"rule {rule.Name} matched but its workflow could not be submitted: {why}", Rule: rule.Name, Project: rule.Project);
        }
        if (KillAfterSubmit && stored.Created)
        {
            // The fault the exactly-once test makes: the workflow is committed, the event not yet marked.
            Process.GetCurrentProcess().Kill();
        }
        if (!stored.Created && stored.EventId != e.Id)
        {
            return Unchanged(rule, key, stored.WorkflowId, stored.EventId);
        }
        if (stored.Created)
        {
            guard.Made(rule, e.Source);
        }
        var again = stored.Created ? "" : " (stored by an earlier try at this event that stopped before marking it; found by its input key)";
        var state = hold is not null && stored.Created ? WorkflowState.Held
            : !stored.Created || document.Concurrency is not null ? await store.WorkflowStateAsync(stored.WorkflowId, ct) : WorkflowState.Running;
        return state switch
        {
            WorkflowState.Held => new(EventEffectKinds.Held,
                $"workflow {stored.WorkflowId} created held by the storm guard{(hold is null ? "" : $": {hold}")}{again}; approve it with kiln held approve --rule {rule.Name}",
                stored.WorkflowId, rule.Name, rule.Project),
            WorkflowState.Queued => new(EventEffectKinds.Queued,
                $"workflow {stored.WorkflowId} created queued behind its concurrency group{again}", stored.WorkflowId, rule.Name, rule.Project),
            _ => new(EventEffectKinds.Created, $"workflow {stored.WorkflowId} created by rule {rule.Name}{again}", stored.WorkflowId, rule.Name, rule.Project),
        };
    }

    public void Dispose() => _one.Dispose();

    private static EventEffect Unchanged(StoredRule rule, string key, long workflowId, long? firstEvent) => new(EventEffectKinds.Unchanged,
        $"inputs unchanged since workflow {workflowId}{(firstEvent is { } first ? $" (event {first})" : "")}: rule {rule.Name} already built {Short(key)}",
        workflowId, rule.Name, rule.Project);

    private static string Short(string key) => key.Length <= 120 ? key : key[..120] + "…";

    [LoggerMessage(Level = LogLevel.Debug, Message = "Event {Id} ({Source} {Type}) processed: {Effects}")]
    private static partial void LogProcessed(ILogger logger, long id, string source, string type, string effects);
}
