using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core.Packaging;
using Kiln.Server.Api;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Packaging;

/// <summary>
/// Submits the project's built-in package pipeline (<see cref="SourcePipeline"/>) for an upload or a
/// packaging repository, through <see cref="WorkflowSubmission"/> like every other workflow.
/// </summary>
public sealed class PackagePipelines(WorkflowSubmission submission)
{
    /// <summary>Trigger of a build a person asked for (kiln build).</summary>
    public const string ManualTrigger = "manual";

    /// <summary>Trigger of a mass rebuild's workflows: the lowest priority class.</summary>
    public const string MassRebuildTrigger = "mass-rebuild";

    /// <param name="options">Normalised (<see cref="SourcePipeline.Normalise"/>).</param>
    /// <param name="idempotencyKey">The same key and document is the same workflow; null: always a new one.</param>
    public async Task<WorkflowSubmission.Outcome> SubmitAsync(
        HttpContext http, string project, bool rpm, PipelineSource source, string label, SourceBuildOptions options,
        string? idempotencyKey, string trigger, CancellationToken ct)
    {
        var document = SourcePipeline.Build(project, rpm, source, label, options, idempotencyKey!, trigger) with { IdempotencyKey = idempotencyKey };
        return await submission.SubmitAsync(http, document, JsonSerializer.Serialize(document, ApiJson.Options), ct);
    }
}
