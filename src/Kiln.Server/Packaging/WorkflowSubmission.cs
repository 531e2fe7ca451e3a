using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Api;
using Kiln.Server.Security;
using Kiln.Store.Engine;
using Kiln.Store.Environments;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Packaging;

/// <summary>
/// Every way a workflow enters the farm — POST /api/v1/workflows, kiln build, kiln env create,
/// kiln rebuild — goes through here: plan (validation), access (the caller may submit to the
/// project), the secrets it names exist, its environments resolve to a version, then one store.
/// </summary>
public sealed class WorkflowSubmission(
    WorkflowPlanner planner, SubmissionStore submissions, ProjectAccess access, SecretSubmissionCheck secrets, EnvironmentResolver environments,
    ConcurrencyStore concurrency)
{
    public WorkflowPlanner Planner => planner;

    /// <summary>A stored (or repeated) submission, or the problem answer to return instead.</summary>
    public sealed record Outcome(SubmissionResult? Stored, WorkflowPlan? Plan, IResult? Problem)
    {
        /// <summary>
        /// The hold a new workflow was stored with: held (the storm guard), queued (its concurrency group), or null to run now.
        /// For a repeat (<see cref="SubmissionResult.Created"/> false) the hold this submission asked for, not the stored workflow's.
        /// </summary>
        public string? Hold { get; init; }
    }

    /// <param name="documentJson">The document as stored (what a repeat with the same idempotency key is compared with).</param>
    public async Task<Outcome> SubmitAsync(HttpContext http, WorkflowDocument document, string documentJson, CancellationToken ct)
    {
        var (plan, errors) = planner.Plan(document);
        if (plan is null)
        {
            return new(null, null, ApiProblems.Invalid(errors));
        }
        if (await access.SubmitAsync(http, plan.Project) is { } refused)
        {
            return new(null, plan, refused);
        }
        if (await secrets.MissingAsync(plan, ct) is { Count: > 0 } missing)
        {
            return new(null, plan, ApiProblems.Invalid(missing));
        }
        var (resolved, unresolved) = await ResolveAsync(plan, ct);
        if (unresolved.Count > 0)
        {
            return new(null, plan, ApiProblems.Invalid(unresolved));
        }
        var origin = Grouped(resolved, null);
        var stored = await submissions.SubmitAsync(resolved, documentJson, ct, Caller.Of(http).User?.UserId, origin);
        await WakeAsync(stored, origin, ct);
        if (!stored.SameDocument)
        {
            return new(stored, resolved, ApiProblems.Conflict("idempotencyKey",
                $"workflow {stored.WorkflowId} was submitted with this idempotency key and a different document; use a new key for a different workflow"));
        }
        return new(stored, resolved, null) { Hold = origin?.Hold };
    }

    /// <summary>
    /// A submission by the farm itself (a scheduled environment refresh): no caller, so no access check;
    /// the store makes sure the project exists.
    /// </summary>
    /// <param name="origin">For a triggered workflow: the event, the rule, the input key and any hold.</param>
    public async Task<Outcome> SubmitAsFarmAsync(WorkflowDocument document, string documentJson, CancellationToken ct, WorkflowOrigin? origin = null)
    {
        var (plan, errors) = planner.Plan(document);
        if (plan is null)
        {
            return new(null, null, ApiProblems.Invalid(errors));
        }
        var (resolved, unresolved) = await ResolveAsync(plan, ct);
        if (unresolved.Count > 0)
        {
            return new(null, plan, ApiProblems.Invalid(unresolved));
        }
        origin = Grouped(resolved, origin);
        var stored = await submissions.SubmitAsync(resolved, documentJson, ct, origin: origin);
        await WakeAsync(stored, origin, ct);
        return new(stored, resolved, null) { Hold = origin?.Hold };
    }

    /// <summary>
    /// A workflow in a concurrency group is stored queued, whatever the group holds now: only the
    /// concurrency duty releases one, so two submissions can never both find the group free and
    /// both run. A hold the caller gave (the storm guard's held) wins; approving it queues it.
    /// A workflow without a group keeps its origin as given (nothing at all for a plain submission).
    /// </summary>
    private static WorkflowOrigin? Grouped(WorkflowPlan plan, WorkflowOrigin? origin) => plan.Concurrency is not { } group
        ? origin
        : (origin ?? new WorkflowOrigin()) with
        {
            Hold = origin?.Hold ?? WorkflowState.Queued,
            ConcurrencyGroup = group.Group,
            CancelInProgress = group.CancelInProgress,
        };

    /// <summary>A new queued workflow wakes the concurrency duty at once (it also polls every duty tick).</summary>
    private async Task WakeAsync(SubmissionResult stored, WorkflowOrigin? origin, CancellationToken ct)
    {
        if (stored.Created && origin?.Hold == WorkflowState.Queued)
        {
            await concurrency.NotifyAsync(ct);
        }
    }

    /// <summary>Turns each planned execution into the stored one, its environment the current version.</summary>
    private async Task<(WorkflowPlan Plan, List<ValidationError> Errors)> ResolveAsync(WorkflowPlan plan, CancellationToken ct)
    {
        var errors = new List<ValidationError>();
        if (plan.WorkRequests.All(w => w.Execution is null))
        {
            return (plan, errors);
        }
        var names = plan.WorkRequests.Select(w => w.Execution?.Environment).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var current = await environments.CurrentAsync(names, ct);
        var requests = new List<PlannedWorkRequest>(plan.WorkRequests.Count);
        foreach (var w in plan.WorkRequests)
        {
            if (w.Execution is not { } e)
            {
                requests.Add(w);
                continue;
            }
            EnvironmentRef? environment = null;
            if (e.Environment is { } name && !current.TryGetValue(name, out environment))
            {
                var error = new ValidationError($"jobs.{w.JobName}.environment",
                    $"environment '{name}' does not exist or has no built version yet; see kiln env list, and make it with kiln env create {name}");
                if (!errors.Contains(error))
                {
                    errors.Add(error);
                }
                continue;
            }
            requests.Add(w with
            {
                // a kind finds the project's own repository by it
                Env = new Dictionary<string, string>(w.Env) { ["KILN_PROJECT"] = plan.Project },
                Resolved = new JobExecution
                {
                    Uses = e.Uses,
                    With = e.With,
                    Environment = environment,
                    Network = e.Network,
                    OnHost = e.OnHost,
                    Limits = e.Limits,
                },
            });
        }
        return (plan with { WorkRequests = requests }, errors);
    }
}
