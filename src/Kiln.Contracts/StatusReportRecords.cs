namespace Kiln.Contracts;

/// <summary>What the forges and webhook subscribers of one workflow have been told (<c>GET /api/v1/workflows/{id}/status-reports</c>, <c>kiln status-reports</c>).</summary>
public sealed record StatusReportsView(long WorkflowId, IReadOnlyList<StatusReportView> Targets);

/// <summary>
/// One target: a forge check run or commit status, or a webhook subscription's view of the workflow
/// or of one of its jobs.
/// </summary>
/// <param name="Kind">summary, job, group (forge); hook-workflow, hook-job (webhooks).</param>
/// <param name="Channel">The serial sender it goes through: app:INSTALLATION@API, link:ID, hook:ID.</param>
/// <param name="Where">The forge and repository with the context (github acme/hello kiln), or the webhook's URL.</param>
/// <param name="Desired">The state it should show now, derived from the workflow as it is.</param>
/// <param name="Acknowledged">The state the other side last acknowledged (a 2xx answer); null before the first.</param>
/// <param name="Attempts">Failed tries since the last acknowledgement.</param>
/// <param name="Writes">Every write made for it.</param>
/// <param name="LastCode">The HTTP status of the last answer (null: no answer, e.g. a timeout).</param>
/// <param name="LastAnswer">The start of the last answer, or why there was none.</param>
/// <param name="NextTryAt">When it is tried next: null when it is settled (desired = acknowledged) or failed.</param>
/// <param name="PausedUntil">The channel's pause (a forge rate limit), when one holds.</param>
/// <param name="Failed">A refusal that will never succeed (bad token, repository gone): not retried until <c>kiln status-reports WORKFLOW --retry</c>.</param>
/// <param name="Done">Acknowledged in a final state, or failed.</param>
public sealed record StatusReportView(
    long Id, string Kind, string Channel, string Where, string? Context, string? Job, string Desired, string? Acknowledged,
    DateTimeOffset? AcknowledgedAt, int Attempts, int Writes, int? LastCode, string? LastAnswer, DateTimeOffset? LastAttemptAt,
    DateTimeOffset? NextTryAt, DateTimeOffset? PausedUntil, string? PauseReason, string? Failed, bool Done);

/// <summary>Answer to <c>POST /api/v1/workflows/{id}/status-reports/retry</c>.</summary>
public sealed record StatusReportsRetried(long WorkflowId, int Reopened, string Message);
