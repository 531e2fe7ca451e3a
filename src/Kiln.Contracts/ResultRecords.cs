using System.Text.Json;

namespace Kiln.Contracts;

/// <summary>
/// The structured result of one attempt (<c>GET /api/v1/work-requests/{id}/result</c>): what its kind
/// reported (package, version, files, lintian tags, tests), plus, for <c>debian/autopkgtest</c>, the
/// <c>regressions</c> and <c>improvements</c> the server found against the suite's reference results.
/// </summary>
/// <param name="Kind">The built-in kind that wrote it (<c>debian/sbuild</c>); empty for a plain job.</param>
/// <param name="Result">The JSON object as stored.</param>
public sealed record WorkRequestResult(long WorkRequestId, int Attempt, string Kind, JsonElement Result, DateTimeOffset CreatedAt);

/// <summary>An autopkgtest regression in a workflow: the job, the test, and the architecture it regressed on.</summary>
public sealed record WorkflowRegression(long WorkRequestId, string Job, string Test, string? Architecture);
