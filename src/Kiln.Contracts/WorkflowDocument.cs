using System.Text.Json.Serialization;

namespace Kiln.Contracts;

/// <summary>
/// A workflow as a user writes it (YAML file or JSON body): named jobs joined by <c>needs</c> edges.
/// The server expands matrices and stores one work request per expanded job.
/// </summary>
public sealed record WorkflowDocument
{
    /// <summary>Human name shown in lists.</summary>
    public string? Name { get; init; }

    /// <summary>Owning project, the unit of fairness; created on first use. Defaults to <c>default</c>.</summary>
    public string? Project { get; init; }

    /// <summary>Repeating a submission with the same key in the same project returns the existing workflow.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>What caused the workflow: manual, pull-request, push, scheduled or mass-rebuild. Sets a priority class.</summary>
    public string? Trigger { get; init; }

    /// <summary>Adjusts every job's priority relative to the project's base priority.</summary>
    public int? Priority { get; init; }

    /// <summary>Seconds the whole workflow may take from submission; then its unfinished work is cancelled.</summary>
    public int? Timeout { get; init; }

    /// <summary>The branch the workflow is for, if any; <c>branch</c> in <c>if:</c> conditions (empty when unset).</summary>
    public string? Branch { get; init; }

    /// <summary>Parameters the workflow takes, by name; used as <c>${{ params.NAME }}</c> and in <c>if:</c>.</summary>
    public Dictionary<string, ParameterDocument>? Parameters { get; init; }

    /// <summary>Values for this submission (what <c>kiln submit -p NAME=VALUE</c> sets); each must be declared in <see cref="Parameters"/>.</summary>
    public Dictionary<string, string>? Params { get; init; }

    /// <summary>Values applied to every job that does not set its own.</summary>
    public JobDefaults? Defaults { get; init; }

    /// <summary>The workflow's concurrency group: at most one running and one pending per group (docs/events.md).</summary>
    public ConcurrencyDocument? Concurrency { get; init; }

    /// <summary>Jobs by name. Order is kept for display.</summary>
    public Dictionary<string, JobDocument>? Jobs { get; init; }
}

/// <summary>Defaults for every job of a workflow.</summary>
public sealed record JobDefaults
{
    /// <summary>Seconds a single attempt may run.</summary>
    public int? Timeout { get; init; }

    /// <summary>Where jobs run and on what.</summary>
    public JobRequirements? Requires { get; init; }

    /// <summary>Retry policy.</summary>
    public RetryPolicyDocument? Retry { get; init; }

    /// <summary>Environment for every job.</summary>
    public Dictionary<string, string>? Env { get; init; }

    /// <summary>The environment every job runs in unless it names its own.</summary>
    public string? Environment { get; init; }
}

/// <summary>One job; with a matrix it expands to one work request per combination.</summary>
public sealed record JobDocument
{
    /// <summary>The shell script the worker runs (the <c>command</c> task kind).</summary>
    public string? Run { get; init; }

    /// <summary>
    /// Names of jobs that must succeed first. From a matrix job to one with the same axes, each entry waits for its
    /// corresponding entry only; <c>NAME[*]</c> waits for every entry; otherwise a matrix job is needed as a whole.
    /// </summary>
    public List<string>? Needs { get; init; }

    /// <summary>Axes to expand, e.g. <c>arch: [amd64, arm64]</c>, with optional <c>include</c> / <c>exclude</c>. Values are substituted for <c>${{ matrix.NAME }}</c>.</summary>
    public MatrixDocument? Matrix { get; init; }

    /// <summary>A condition evaluated at submission (per matrix entry); when false the entry is not created.</summary>
    public string? If { get; init; }

    /// <summary>A failure of this job is shown but neither fails the workflow nor skips its dependents (written <c>allow-failure</c>).</summary>
    [System.Text.Json.Serialization.JsonPropertyName("allow-failure")]
    public bool? AllowFailure { get; init; }

    /// <summary>Architecture, tags and queue a worker must offer.</summary>
    public JobRequirements? Requires { get; init; }

    /// <summary>Seconds a single attempt may run.</summary>
    public int? Timeout { get; init; }

    /// <summary>Retry policy.</summary>
    public RetryPolicyDocument? Retry { get; init; }

    /// <summary>Environment variables for the task.</summary>
    public Dictionary<string, string>? Env { get; init; }

    /// <summary>Globs (relative to the working directory) of files uploaded as artifacts.</summary>
    public List<string>? Outputs { get; init; }

    /// <summary>Adjusts the job's priority relative to its project's base priority.</summary>
    public int? Priority { get; init; }

    /// <summary>
    /// Names of project secrets the task gets as environment variables of the same names (at most 20;
    /// each must exist in the project at submission). Handed only to workers of pools the project trusts;
    /// their values are masked in the log.
    /// </summary>
    public List<string>? Secrets { get; init; }

    /// <summary>
    /// The environment the job runs in, by name (<c>debian/bookworm-amd64</c>): a fresh copy of the environment's
    /// current version, resolved at submission, in its own namespaces (docs/packaging.md). Unset: on the worker's host.
    /// </summary>
    public string? Environment { get; init; }

    /// <summary>A built-in job kind (<c>debian/sbuild</c>, <c>debian/lintian</c>, …) that supplies the script; see docs/packaging.md.</summary>
    public string? Uses { get; init; }

    /// <summary>The built-in kind's parameters (<c>suite</c>, <c>arch</c>, …); values may use <c>${{ matrix.NAME }}</c>.</summary>
    public Dictionary<string, string>? With { get; init; }

    /// <summary>In an environment, whether the job may reach the network (default false: a network namespace with only loopback).</summary>
    public bool? Network { get; init; }
}

/// <summary>A declared workflow parameter.</summary>
public sealed record ParameterDocument
{
    /// <summary>The value when the submission gives none; without a default the parameter is required.</summary>
    public string? Default { get; init; }

    /// <summary>When set, the only values allowed.</summary>
    public List<string>? Values { get; init; }

    /// <summary>What the parameter is for (shown to people, not used).</summary>
    public string? Description { get; init; }
}

/// <summary>What a worker must offer to run a job.</summary>
public sealed record JobRequirements
{
    /// <summary>Debian architecture name (amd64, arm64, …); unset means any.</summary>
    public string? Architecture { get; init; }

    /// <summary>Every tag listed must be offered by the worker.</summary>
    public List<string>? Tags { get; init; }

    /// <summary>Queue the job waits in; defaults to <c>builds</c>.</summary>
    public string? Queue { get; init; }

    /// <summary>Memory limit of a job in an environment, e.g. <c>4GiB</c> or <c>512MiB</c> (default 4 GiB).</summary>
    public string? Memory { get; init; }

    /// <summary>Most processes (and threads) a job in an environment may have at once (default 1024).</summary>
    public int? Processes { get; init; }

    /// <summary>Most disk a job in an environment may write, e.g. <c>10GiB</c> (default 10 GiB).</summary>
    public string? Disk { get; init; }
}

/// <summary>
/// Retry rules: infrastructure failures (lost worker, timeout, worker-reported errors) retry
/// automatically up to <see cref="MaxAttempts"/>; the task's own failure only if <see cref="OnFailure"/>.
/// </summary>
public sealed record RetryPolicyDocument
{
    /// <summary>Attempts in total, first included (1–20, default 3).</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>Also retry when the task itself exits non-zero.</summary>
    public bool? OnFailure { get; init; }

    /// <summary>Base of the exponential backoff in seconds (default 10).</summary>
    public int? BackoffSeconds { get; init; }
}
