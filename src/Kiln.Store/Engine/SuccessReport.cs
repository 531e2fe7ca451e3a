namespace Kiln.Store.Engine;

/// <summary>A worker's report that its task exited 0; <see cref="WorkerId"/> is the authenticated worker that sends it.</summary>
public sealed record SuccessReport(long WorkerId, long WorkRequestId, Guid LeaseToken, int? ExitCode, string? Message);
