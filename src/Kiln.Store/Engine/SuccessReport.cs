namespace Kiln.Store.Engine;

/// <summary>A worker's report that its task exited 0.</summary>
public sealed record SuccessReport(long WorkRequestId, Guid LeaseToken, int? ExitCode, string? Message);
