namespace Kiln.Contracts;

/// <summary>A workflow as the API returns it.</summary>
/// <param name="Id">Workflow id.</param>
/// <param name="Name">Display name.</param>
/// <param name="Project">Owning project.</param>
/// <param name="State">running, succeeded, failed or cancelled.</param>
/// <param name="Counts">How many work requests are in each state.</param>
/// <param name="CreatedAt">When it was accepted.</param>
/// <param name="FinishedAt">When its last work request reached a final state.</param>
/// <param name="Jobs">Per-job states; omitted in lists.</param>
/// <param name="Regressions">Autopkgtest regressions found in its jobs' latest results; omitted in lists.</param>
public sealed record WorkflowView(
    long Id,
    string Name,
    string Project,
    string State,
    WorkflowCounts Counts,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    IReadOnlyList<WorkRequestSummary>? Jobs,
    IReadOnlyList<WorkflowRegression>? Regressions = null,
    WorkflowOriginView? Origin = null);

/// <summary>Where a triggered workflow came from and what holds or replaced it (docs/events.md).</summary>
/// <param name="EventId">The event that made it.</param>
/// <param name="Rule">The trigger rule that matched.</param>
/// <param name="InputKey">What the input-change check compares: one workflow per rule and input key.</param>
/// <param name="ConcurrencyGroup">Its concurrency group, if any.</param>
/// <param name="SupersededBy">The newer workflow of its group that replaced it before it ran.</param>
public sealed record WorkflowOriginView(long? EventId, string? Rule, string? InputKey, string? ConcurrencyGroup, long? SupersededBy);

/// <summary>Work requests of a workflow by state.</summary>
/// <param name="AllowedFailures">Of <paramref name="Failed"/>, the jobs with <c>allow-failure</c>: shown, but they did not fail the workflow.</param>
public sealed record WorkflowCounts(int Total, int Unfinished, int Succeeded, int Failed, int Skipped, int Cancelled, int AllowedFailures = 0);

/// <summary>Answer to a submission.</summary>
/// <param name="Id">Workflow id.</param>
/// <param name="Created">False when an idempotency key matched an existing workflow.</param>
/// <param name="WorkRequests">Number of work requests after matrix expansion.</param>
/// <param name="Omitted">Work requests not created because their job's <c>if:</c> was false at submission.</param>
public sealed record SubmitWorkflowResponse(long Id, bool Created, int WorkRequests, IReadOnlyList<string>? Omitted = null);

/// <summary>One work request in a listing.</summary>
public sealed record WorkRequestSummary(
    long Id,
    long WorkflowId,
    string Name,
    string State,
    int Attempt,
    string Queue,
    string? Architecture,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt);

/// <summary>A work request with its dependencies and attempt history (and, while it runs, the worker running it).</summary>
/// <param name="Execution">How it runs beyond its script: the kind it uses, its parameters, its environment (name and version).</param>
/// <param name="Result">The structured result of its latest attempt that reported one.</param>
public sealed record WorkRequestView(
    WorkRequestSummary Summary,
    string Project,
    IReadOnlyList<string> Tags,
    string Run,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> Outputs,
    int TimeoutSeconds,
    int MaxAttempts,
    bool RetryOnFailure,
    bool CancelRequested,
    DateTimeOffset? NotBefore,
    IReadOnlyList<long> Needs,
    IReadOnlyList<AttemptView> Attempts,
    string? WorkerName = null,
    JobExecution? Execution = null,
    WorkRequestResult? Result = null);

/// <summary>One recorded attempt: who ran it, when, and how it ended.</summary>
public sealed record AttemptView(
    int Attempt,
    long? WorkerId,
    string? WorkerName,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    string Outcome,
    int? ExitCode,
    string? Message);

/// <summary>A page of a keyset-paginated list; pass <see cref="Next"/> as <c>after</c> for the next page.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? Next);

/// <summary>Result of a cancel or retry request.</summary>
/// <param name="Affected">Work requests whose state changed (or that were marked for cancellation).</param>
/// <param name="Message">What happened, in words.</param>
public sealed record ActionResponse(int Affected, string Message);
