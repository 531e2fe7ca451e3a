using System.Globalization;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Server.Api;
using Kiln.Store.Environments;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Packaging;

/// <summary>
/// Starts the build of an environment's next version: one <c>kiln/environment</c> job (mmdebstrap on a
/// worker of the environment's architecture, queue <c>environments</c>) in a workflow of the farm's
/// <see cref="Project"/>. At most one build per environment runs at a time; the leader's
/// <see cref="EnvironmentDuty"/> records the tarball as a version when it succeeds.
/// </summary>
public sealed class EnvironmentBuilds(EnvironmentStore store, WorkflowSubmission submission, TimeProvider time)
{
    /// <summary>The project environment builds run in (created by the first one, owned by the admin who made it).</summary>
    public const string Project = "kiln-environments";

    /// <summary>An hour: long enough for a large package list on a slow mirror.</summary>
    public const int BuildTimeoutSeconds = 3600;

    /// <returns>The build's workflow id; null when a build was already running; or the problem to answer.</returns>
    /// <param name="http">The admin's request; null for a scheduled refresh, submitted as the farm itself.</param>
    public async Task<(long? WorkflowId, IResult? Problem)> StartAsync(HttpContext? http, EnvironmentView environment, string trigger, CancellationToken ct)
    {
        if (environment.Builder != "mmdebstrap")
        {
            return (null, ApiProblems.Conflict("name",
                $"environment {environment.Name} is imported: add a version with kiln env import {environment.Name} FILE; Kiln does not build it"));
        }
        if (await store.ClaimBuildAsync(environment.Name, ct) is not { } id)
        {
            return (null, null);
        }
        var document = Document(environment, trigger, time.GetUtcNow());
        var json = JsonSerializer.Serialize(document, ApiJson.Options);
        var (stored, _, problem) = http is null
            ? await submission.SubmitAsFarmAsync(document, json, ct)
            : await submission.SubmitAsync(http, document, json, ct);
        if (problem is not null)
        {
            return (null, problem);
        }
        await store.SetBuildingAsync(id, stored!.WorkflowId, ct);
        return (stored.WorkflowId, null);
    }

    /// <summary>The build as a workflow document: what kiln show displays, and what a user could submit by hand.</summary>
    public static WorkflowDocument Document(EnvironmentView e, string trigger, DateTimeOffset now) => new()
    {
        Name = $"environment {e.Name}",
        Project = Project,
        Trigger = trigger,
        IdempotencyKey = $"environment:{e.Name}:{now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}",
        Jobs = new Dictionary<string, JobDocument>
        {
            ["build"] = new()
            {
                Uses = "kiln/environment",
                With = new Dictionary<string, string>
                {
                    ["suite"] = e.Suite ?? "",
                    ["arch"] = e.Architecture ?? "",
                    ["mirror"] = e.Mirror ?? "",
                    ["variant"] = e.Variant ?? "",
                    ["packages"] = string.Join(',', e.Packages),
                },
                Timeout = BuildTimeoutSeconds,
            },
        },
    };
}
