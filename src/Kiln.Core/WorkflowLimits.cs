namespace Kiln.Core;

/// <summary>Size limits for everything a workflow document can carry. Each has a clear error.</summary>
public sealed record WorkflowLimits
{
    public int MaxDocumentBytes { get; init; } = 8 * 1024 * 1024;
    public int MaxWorkRequests { get; init; } = 50_000;
    public int MaxEdges { get; init; } = 250_000;
    public int MaxNameLength { get; init; } = 100;
    /// <summary>A script's size, before and after <c>${{ matrix.* }}</c> substitution.</summary>
    public int MaxScriptBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Scripts, environment, requirements and outputs of every work request together, after
    /// matrix expansion (computed before expanding, see <c>ExpansionBudget</c>).
    /// </summary>
    public long MaxExpandedBytes { get; init; } = 64L * 1024 * 1024;
    public int MaxEnvEntries { get; init; } = 100;
    /// <summary>An environment value's length in characters, before and after substitution.</summary>
    public int MaxEnvValueLength { get; init; } = 8 * 1024;
    public int MaxTags { get; init; } = 32;
    public int MaxOutputs { get; init; } = 32;
    public int MaxSecrets { get; init; } = 20;
    public int MaxMatrixAxes { get; init; } = 8;
    /// <summary>Entries of a matrix's <c>include</c>, and of its <c>exclude</c>, each.</summary>
    public int MaxMatrixEntries { get; init; } = 256;
    public int MaxParameters { get; init; } = 50;
    /// <summary>A parameter's value (supplied, default or allowed) in characters; one line of text.</summary>
    public int MaxParameterValueLength { get; init; } = 256;
    public int MaxParameterValues { get; init; } = 100;
    public int MaxTimeoutSeconds { get; init; } = 7 * 24 * 3600;
    public int DefaultTimeoutSeconds { get; init; } = 3 * 3600;
    /// <summary>A whole workflow's <c>timeout</c>.</summary>
    public int MaxWorkflowTimeoutSeconds { get; init; } = 30 * 24 * 3600;
    public int MaxAttempts { get; init; } = 20;
    public int MaxPriority { get; init; } = 1000;

    public static WorkflowLimits Default { get; } = new();
}
