namespace Kiln.Core;

/// <summary>A validated workflow, matrices expanded, work requests in dependency order.</summary>
public sealed record WorkflowPlan(
    string Name,
    string Project,
    string? IdempotencyKey,
    IReadOnlyList<PlannedWorkRequest> WorkRequests,
    string Trigger = FairShare.DefaultTrigger)
{
    public int EdgeCount => WorkRequests.Sum(w => w.Needs.Count);

    /// <summary>Seconds from submission after which the workflow's unfinished work is cancelled; null for none.</summary>
    public int? TimeoutSeconds { get; init; }

    /// <summary>Names of the work requests not created because their job's <c>if:</c> was false.</summary>
    public IReadOnlyList<string> Omitted { get; init; } = [];

    /// <summary>Its concurrency group (docs/concurrency.md); null for none or an exempt branch.</summary>
    public PlannedConcurrency? Concurrency { get; init; }
}

/// <summary>One work request to create. <see cref="Needs"/> holds indexes into the plan, all smaller than its own.
/// <see cref="Priority"/> is workflow + job + trigger class; the project's base is added when stored.</summary>
public sealed record PlannedWorkRequest(
    string Name,
    string JobName,
    string Run,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> Outputs,
    string? Architecture,
    IReadOnlyList<string> Tags,
    string Queue,
    int TimeoutSeconds,
    int MaxAttempts,
    bool RetryOnFailure,
    int BackoffSeconds,
    int Priority,
    IReadOnlyList<int> Needs,
    bool AllowFailure = false)
{
    /// <summary>Names of the project secrets the task gets (validated, ordinal order); empty for none.</summary>
    public IReadOnlyList<string> Secrets { get; init; } = [];

    /// <summary>The kind, environment, network and limits; null for a plain job on the host.</summary>
    public PlannedExecution? Execution { get; init; }

    /// <summary>What is stored and handed to the worker: <see cref="Execution"/> with its environment resolved (set by the submission).</summary>
    public Kiln.Contracts.JobExecution? Resolved { get; init; }
}

/// <summary>
/// How a planned work request runs beyond its script. <see cref="Environment"/> is a name here; the
/// submission resolves it to the environment's current version (<see cref="Kiln.Contracts.EnvironmentRef"/>).
/// </summary>
public sealed record PlannedExecution(
    string? Uses,
    IReadOnlyDictionary<string, string>? With,
    string? Environment,
    bool Network,
    bool OnHost,
    Kiln.Contracts.JobLimits? Limits);

/// <summary>A problem with a submitted document; <see cref="Field"/> is a path such as <c>jobs.build.needs[0]</c>.</summary>
public sealed record ValidationError(string Field, string Message);
