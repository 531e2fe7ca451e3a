namespace Kiln.Contracts;

/// <summary>A worker introducing itself with a registration token (it enrols into the token's pool).</summary>
/// <param name="Name">Unique worker name (host name by default). Re-registering the same name rotates its secret.</param>
/// <param name="Architectures">Architectures it can build for (the first is its native one).</param>
/// <param name="Tags">Free-form capabilities (e.g. <c>kvm</c>, <c>large-disk</c>).</param>
/// <param name="Queues">Queues it serves (default <c>builds</c>).</param>
/// <param name="Slots">How many tasks it runs at once.</param>
public sealed record RegisterWorkerRequest(
    string Name,
    IReadOnlyList<string>? Architectures,
    IReadOnlyList<string>? Tags,
    IReadOnlyList<string>? Queues,
    int Slots);

/// <summary>Answer to registration: the secret the worker presents as a bearer token from now on.</summary>
/// <param name="Pool">The pool the worker enrolled in.</param>
/// <param name="PendingApproval">The pool requires approval and the worker has none yet: it gets work after <c>kiln worker approve NAME</c>.</param>
public sealed record RegisterWorkerResponse(long WorkerId, string Secret, TimingPolicy Timing, string? Pool = null, bool PendingApproval = false);

/// <summary>Server-set timings every worker follows.</summary>
/// <param name="HeartbeatSeconds">How often to heartbeat while holding leases.</param>
/// <param name="LeaseSeconds">How long a lease lasts without a heartbeat.</param>
/// <param name="MaxClaimWaitSeconds">Longest long-poll the server holds.</param>
public sealed record TimingPolicy(int HeartbeatSeconds, int LeaseSeconds, int MaxClaimWaitSeconds);

/// <summary>A long-poll claim for up to <see cref="Slots"/> work requests.</summary>
/// <param name="Slots">Free slots (1–64).</param>
/// <param name="WaitSeconds">How long to hold the request when nothing matches (0 = answer at once).</param>
/// <param name="ClaimId">
/// Makes the claim idempotent: a worker that did not get the answer to a claim repeats it
/// with the same id, and the server answers with the work that claim took (the same lease
/// tokens) instead of claiming more. A fresh id for every new claim.
/// </param>
public sealed record ClaimRequest(int Slots, int WaitSeconds, Guid? ClaimId = null);

/// <summary>Work handed to a worker.</summary>
/// <param name="PendingApproval">
/// True while the worker's pool requires approval and an admin has not yet approved it
/// (<c>kiln worker approve NAME</c>): it is handed nothing; the claim still long-polls, so the
/// worker keeps polling as usual and gets work once approved.
/// </param>
public sealed record ClaimResponse(IReadOnlyList<Assignment> Assignments, bool PendingApproval = false);

/// <summary>One claimed work request and its lease.</summary>
/// <param name="LeaseToken">Fences every later report about this attempt.</param>
/// <param name="NeedsArtifacts">Work request ids whose artifacts are the task's inputs, by job name.</param>
/// <param name="Secrets">
/// The project secrets the job names, name → value: the worker puts them in the task's environment
/// under those names and masks their values (and common encodings of them) in everything the task's
/// log sends to the server. Null or empty when the job uses none.
/// </param>
/// <param name="SecretNames">The names of the secrets the job names (never values); null when none.</param>
public sealed record Assignment(
    long WorkRequestId,
    long WorkflowId,
    string Name,
    int Attempt,
    Guid LeaseToken,
    DateTimeOffset LeaseExpiresAt,
    string Run,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> Outputs,
    int TimeoutSeconds,
    IReadOnlyDictionary<string, long> NeedsArtifacts,
    IReadOnlyDictionary<string, string>? Secrets = null,
    IReadOnlyList<string>? SecretNames = null,
    JobExecution? Execution = null);

/// <summary>
/// How a job runs beyond its script; null for a plain job on the worker's host. Resolved at submission:
/// the environment is one exact, content-addressed version.
/// </summary>
public sealed record JobExecution
{
    /// <summary>The built-in kind that supplied the script (<c>debian/sbuild</c>), if any.</summary>
    public string? Uses { get; init; }

    /// <summary>The kind's parameters; the script also gets each as <c>KILN_WITH_NAME</c>.</summary>
    public IReadOnlyDictionary<string, string>? With { get; init; }

    /// <summary>The environment the job runs in.</summary>
    public EnvironmentRef? Environment { get; init; }

    /// <summary>In an environment: the job may reach the network (otherwise only its own loopback).</summary>
    public bool Network { get; init; }

    /// <summary>
    /// The kind runs on the worker's host with the environment's tarball at <c>$KILN_ENVIRONMENT_TARBALL</c>
    /// (sbuild in unshare mode isolates the build itself) instead of inside a copy of the environment.
    /// </summary>
    public bool OnHost { get; init; }

    /// <summary>Resource limits for a job in an environment.</summary>
    public JobLimits? Limits { get; init; }
}

/// <summary>One version of an environment, as a worker fetches it: the tarball is the blob <see cref="Sha256"/>.</summary>
public sealed record EnvironmentRef(string Name, int Version, string Sha256, long Size);

/// <summary>Limits of a job in an environment: bytes of memory, processes at once, bytes written.</summary>
public sealed record JobLimits(long MemoryBytes, int Processes, long DiskBytes)
{
    public static readonly JobLimits Default = new(4L << 30, 1024, 10L << 30);
}

/// <summary>The leases a worker holds, renewed together.</summary>
public sealed record HeartbeatRequest(IReadOnlyList<LeaseRef> Leases);

/// <summary>A lease held on one work request.</summary>
public sealed record LeaseRef(long WorkRequestId, Guid LeaseToken);

/// <summary>Per-lease answer; the worker kills tasks whose status is <c>cancel</c> or <c>lost</c>.</summary>
public sealed record HeartbeatResponse(IReadOnlyList<LeaseStatus> Leases, TimingPolicy Timing);

/// <summary><see cref="Status"/> is <c>ok</c>, <c>cancel</c> (stop and report cancelled) or <c>lost</c> (stop; the result will be refused).</summary>
public sealed record LeaseStatus(long WorkRequestId, string Status, DateTimeOffset? LeaseExpiresAt);

/// <summary>The task finished: <see cref="Result"/> is <c>succeeded</c>, <c>failed</c>, <c>cancelled</c> (on request) or <c>timed-out</c> (killed at the job's timeout; retried automatically).</summary>
public sealed record CompleteRequest(Guid LeaseToken, string Result, int? ExitCode, string? Message);

/// <summary>An attempt that ends without a task result: sent to <c>fail</c>, the worker could not run the task (infrastructure error; retried automatically); sent to <c>release</c>, it hands the work back unstarted.</summary>
public sealed record EndWithoutResultRequest(Guid LeaseToken, string Reason);

/// <summary>How the server recorded a report; repeating the report returns the same answer.</summary>
/// <param name="State">The work request's state after the report.</param>
/// <param name="Attempt">The attempt the report was about.</param>
/// <param name="Outcome">What was recorded for the attempt.</param>
public sealed record ReportResponse(long WorkRequestId, string State, int Attempt, string Outcome);

/// <summary>
/// Several reports in one request (<c>POST /api/v1/work-requests/reports</c>), as a worker sends
/// the results of every task that ended since its last report. Each is judged on its own.
/// </summary>
public sealed record ReportBatchRequest(IReadOnlyList<WorkerReport> Reports);

/// <summary>One report of a batch.</summary>
/// <param name="Result"><c>succeeded</c>, <c>failed</c>, <c>cancelled</c>, <c>timed-out</c> (as for <c>complete</c>),
/// <c>error</c> (as <c>fail</c>: the task could not run; <see cref="Message"/> says why) or
/// <c>released</c> (as <c>release</c>: handed back unstarted).</param>
public sealed record WorkerReport(long WorkRequestId, Guid LeaseToken, string Result, int? ExitCode, string? Message);

/// <summary>One answer per report, in the order sent.</summary>
public sealed record ReportBatchResponse(IReadOnlyList<ReportOutcome> Results);

/// <summary>
/// The answer to one report of a batch: <see cref="Status"/> is the HTTP status the single
/// report would have had (200 recorded or repeated, 404 unknown work request, 409 lease not held),
/// with <see cref="Report"/> on 200 and <see cref="Problem"/> otherwise.
/// </summary>
public sealed record ReportOutcome(long WorkRequestId, int Status, ReportResponse? Report, string? Problem);

/// <summary>A registered worker as operators see it.</summary>
/// <param name="DisabledAt">Set while an operator has disabled the worker (<c>kiln worker disable</c>): it is handed no work and may not register.</param>
/// <param name="Pool">The pool it enrolled in (the pool of the registration token it registered with).</param>
/// <param name="ApprovedAt">When an admin approved it, or when it enrolled in a pool that needs no approval; null while it waits for approval.</param>
public sealed record WorkerView(
    long Id,
    string Name,
    IReadOnlyList<string> Architectures,
    IReadOnlyList<string> Tags,
    IReadOnlyList<string> Queues,
    int Slots,
    int Running,
    DateTimeOffset RegisteredAt,
    DateTimeOffset LastSeenAt,
    DateTimeOffset? DisabledAt = null,
    string? Pool = null,
    DateTimeOffset? ApprovedAt = null);
