using Kiln.Core;

namespace Kiln.Store.Engine;

/// <summary>One report of a worker about one attempt, as the report batch carries it.</summary>
public sealed record AttemptReport(long WorkRequestId, Guid LeaseToken, AttemptEnd End, int? ExitCode, string? Message);
