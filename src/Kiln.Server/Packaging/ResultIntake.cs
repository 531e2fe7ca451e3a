using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Contracts;
using Kiln.Core.Kinds;
using Kiln.Store.Results;

namespace Kiln.Server.Packaging;

/// <summary>
/// Takes an attempt's structured result: for <c>debian/autopkgtest</c> compares it with the suite's
/// reference results (regressions, improvements), stores it, and gives the verdict — whether the
/// attempt fails though its script exited 0 (sbuild's <c>Status: skipped</c>) or by policy
/// (<c>fail-on-regression</c>). See docs/packaging.md, "Results and regressions".
/// </summary>
public sealed class ResultIntake(ResultStore results)
{
    public const string Autopkgtest = "debian/autopkgtest";

    public async Task<ResultVerdict> TakeAsync(long workRequestId, int attempt, ResultTarget target, JsonElement result, CancellationToken ct)
    {
        var kind = target.Execution?.Uses ?? "";
        var with = target.Execution?.With ?? new Dictionary<string, string>();
        var stored = JsonNode.Parse(result.GetRawText())!.AsObject();
        if (kind == Autopkgtest)
        {
            await CompareAsync(workRequestId, target, with, stored, ct);
        }
        var json = stored.ToJsonString();
        await results.RecordAsync(workRequestId, attempt, kind, json, ct);
        using var doc = JsonDocument.Parse(json);
        var failOnRegression = with.TryGetValue("fail-on-regression", out var flag) && flag == "true";
        var failure = ResultJudgement.FailureOf(kind, doc.RootElement, failOnRegression);
        return new ResultVerdict(failure is not null, failure);
    }

    /// <summary>Adds <c>suite</c>, <c>regressions</c>, <c>improvements</c> and <c>reference</c> to an autopkgtest result.</summary>
    private async Task CompareAsync(long workRequestId, ResultTarget target, IReadOnlyDictionary<string, string> with, JsonObject stored, CancellationToken ct)
    {
        var suite = with.TryGetValue("suite", out var s) && s.Length > 0 ? s : target.NeedSuite ?? Text(stored, "suite");
        stored["suite"] = suite;
        var package = Text(stored, "package");
        var architecture = Text(stored, "architecture");
        ReferenceResult? reference = null;
        if (suite is not null && package is not null && architecture is not null)
        {
            reference = await results.ReferenceAsync(target.ProjectId, target.WorkflowId, suite, package, architecture, ct);
        }
        IReadOnlyList<string> regressions = [];
        IReadOnlyList<string> improvements = [];
        if (reference is not null && reference.WorkRequestId != workRequestId)
        {
            using var current = JsonDocument.Parse(stored.ToJsonString());
            (regressions, improvements) = ResultJudgement.Compare(ResultJudgement.Tests(current.RootElement), ResultJudgement.Tests(reference.Result));
            stored["reference"] = new JsonObject
            {
                ["workRequestId"] = reference.WorkRequestId,
                ["attempt"] = reference.Attempt,
                ["version"] = reference.Version,
            };
        }
        else
        {
            stored["reference"] = null;
        }
        stored["regressions"] = new JsonArray([.. regressions.Select(r => (JsonNode?)JsonValue.Create(r))]);
        stored["improvements"] = new JsonArray([.. improvements.Select(r => (JsonNode?)JsonValue.Create(r))]);
    }

    private static string? Text(JsonObject o, string property) =>
        o[property] is JsonValue v && v.TryGetValue<string>(out var text) && text.Length > 0 ? text : null;
}
