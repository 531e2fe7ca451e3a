namespace Kiln.Core;

/// <summary>Size limits for everything a workflow document can carry. Each has a clear error.</summary>
public sealed record WorkflowLimits
{
    public int MaxDocumentBytes { get; init; } = 8 * 1024 * 1024;
    public int MaxWorkRequests { get; init; } = 50_000;
    public int MaxEdges { get; init; } = 250_000;
    public int MaxNameLength { get; init; } = 100;
    public int MaxScriptBytes { get; init; } = 64 * 1024;
    public int MaxEnvEntries { get; init; } = 100;
    public int MaxEnvValueLength { get; init; } = 8 * 1024;
    public int MaxTags { get; init; } = 32;
    public int MaxOutputs { get; init; } = 32;
    public int MaxMatrixAxes { get; init; } = 8;
    public int MaxTimeoutSeconds { get; init; } = 7 * 24 * 3600;
    public int DefaultTimeoutSeconds { get; init; } = 3 * 3600;
    public int MaxAttempts { get; init; } = 20;
    public int MaxPriority { get; init; } = 1000;

    public static WorkflowLimits Default { get; } = new();
}
