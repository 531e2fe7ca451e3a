using Kiln.Contracts;

namespace Kiln.Store.Engine;

/// <summary>The answer to a report: what was recorded, or why the report was refused.</summary>
public sealed record ReportResult(ReportStatus Status, ReportResponse? Response, string? Problem);
