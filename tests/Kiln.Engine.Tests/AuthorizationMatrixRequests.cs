using System.Globalization;
using System.Text;

namespace Kiln.Engine.Tests;

/// <summary>
/// How the authorization matrix fills a documented operation: each path parameter by its name
/// (and the collection it is under), with a resource of the private project P where it names
/// one; a minimal body, query and headers where the operation needs them to reach its access
/// decision. A path parameter without a row fails the test, so a new endpoint forces a decision.
/// </summary>
public sealed class AuthorizationMatrixRequests(AuthorizationMatrixFarm farm)
{
    private static readonly string Guid0 = Guid.NewGuid().ToString();
    private static readonly string Sha = new('a', 64);

    /// <summary>One path parameter: under which path prefix, by which name, what fills it, and whether that is P's.</summary>
    private sealed record PathParameter(string Prefix, string Name, bool OfProject, Func<Task<string>> Value);

    private IEnumerable<PathParameter> PathParameters()
    {
        string Id(long id) => id.ToString(CultureInfo.InvariantCulture);
        yield return new("/api/v1/workflows/", "id", true, () => Task.FromResult(Id(farm.WorkflowId)));
        yield return new("/api/v1/work-requests/", "id", true, () => Task.FromResult(Id(farm.WorkRequestId)));
        yield return new("/api/v1/sources/", "id", true, () => Task.FromResult(Id(farm.SourceUploadId)));
        yield return new("/api/v1/sources/", "file", false, () => Task.FromResult(AuthorizationMatrixFarm.SourceFile));
        yield return new("/api/v1/rebuilds/", "id", true, () => Task.FromResult(Id(farm.RebuildId)));
        // Repository links belong to P; operations on one remove or reconcile it: each row gets its own.
        yield return new("/api/v1/links/", "id", true, farm.FreshLinkAsync);
        // Webhooks belong to P; operations on one change or remove it, and a delivery is redelivered: each row gets its own.
        yield return new("/api/v1/webhooks/", "id", true, farm.FreshWebhookAsync);
        yield return new("/api/v1/webhook-deliveries/", "id", true, farm.FreshWebhookDeliveryAsync);
        yield return new("/api/v1/projects/", "name", true, () => Task.FromResult(AuthorizationMatrixFarm.Project));
        yield return new("/api/v1/projects/", "secret", false, () => Task.FromResult("MATRIX_SECRET"));
        yield return new("/api/v1/projects/", "suite", false, () => Task.FromResult("bookworm"));
        yield return new("/api/v1/projects/", "rule", false, () => Task.FromResult(AuthorizationMatrixFarm.Rule));
        yield return new("/api/v1/events/", "id", false, farm.RejectedEventAsync);
        // Operations on a worker change or remove it: each row gets its own.
        yield return new("/api/v1/workers/", "name", false, farm.FreshWorkerAsync);
        yield return new("/api/v1/notices/", "id", false, farm.FreshNoticeAsync);
        yield return new("", "path", false, () => Task.FromResult(AuthorizationMatrixFarm.ArtifactPath));
        // A member of P made for the row: removing or re-roling it must not change the callers' own roles.
        yield return new("", "user", false, farm.FreshMemberAsync);
        // Operations on a user, a pool or a token change them: each row gets its own.
        yield return new("/api/v1/users/", "name", false, farm.FreshUserAsync);
        yield return new("/api/v1/pools/", "name", false, farm.FreshPoolAsync);
        yield return new("/api/v1/projects/", "pool", false, () => Task.FromResult("matrix-pool"));
        yield return new("/api/v1/registration-tokens/", "id", false, farm.FreshRegistrationTokenAsync);
        // Environments are the farm's, not a project's; the one named need not exist for the access decision.
        yield return new("/api/v1/environments/", "distribution", false, () => Task.FromResult("matrix"));
        yield return new("/api/v1/environments/", "name", false, farm.MatrixEnvironmentAsync);
        yield return new("/api/v1/environments/", "sha256", false, async () =>
        {
            await farm.MatrixEnvironmentAsync();
            return AuthorizationMatrixFarm.MatrixEnvironmentSha;
        });
        // The admin's token: revoking it is the admin's own business and another user's 404.
        yield return new("/api/v1/tokens/", "id", false, farm.FreshApiTokenAsync);
    }

    /// <summary>Bodies, queries and headers an operation needs to reach its access decision ({fresh}: a new name per row).</summary>
    private static readonly Dictionary<string, (string? Query, string Body, string ContentType, bool NamesProject)> Inputs = new()
    {
        ["POST /api/v1/workflows"] = (null, """{"project":"{project}","jobs":{"a":{"run":"true","requires":{"queue":"matrix-nobody"}}}}""", "application/json", true),
        ["PUT /api/v1/projects/{name}"] = (null, """{"weight":1}""", "application/json", false),
        ["POST /api/v1/work-requests/{id}/priority"] = (null, """{"priority":1}""", "application/json", false),
        ["POST /api/v1/workflows/{id}/priority"] = (null, """{"adjust":1}""", "application/json", false),
        ["POST /api/v1/notices"] = (null, """{"severity":"info","text":"{fresh}"}""", "application/json", false),
        ["POST /api/v1/workers/register"] = (null, """{"name":"{fresh}","architectures":["amd64"],"tags":[],"queues":["matrix-nothing"],"slots":1}""", "application/json", false),
        ["POST /api/v1/workers/claim"] = (null, """{"slots":1,"waitSeconds":0}""", "application/json", false),
        ["POST /api/v1/workers/heartbeat"] = (null, """{"leases":[]}""", "application/json", false),
        ["POST /api/v1/work-requests/{id}/complete"] = (null, $$"""{"leaseToken":"{{Guid0}}","result":"succeeded"}""", "application/json", false),
        ["POST /api/v1/work-requests/{id}/fail"] = (null, $$"""{"leaseToken":"{{Guid0}}","reason":"matrix"}""", "application/json", false),
        ["POST /api/v1/work-requests/{id}/release"] = (null, $$"""{"leaseToken":"{{Guid0}}"}""", "application/json", false),
        ["POST /api/v1/work-requests/reports"] = (null, $$"""{"reports":[{"workRequestId":{workRequest},"leaseToken":"{{Guid0}}","result":"succeeded"}]}""", "application/json", false),
        ["POST /api/v1/work-requests/{id}/artifacts"] = (null, $$"""{"leaseToken":"{{Guid0}}","path":"x.txt","sha256":"{{Sha}}","size":1}""", "application/json", false),
        ["PUT /api/v1/work-requests/{id}/result"] = (null, $$$"""{"leaseToken":"{{{Guid0}}}","result":{"status":"passed"}}""", "application/json", false),
        ["PUT /api/v1/work-requests/{id}/artifacts/content"] = ($"sha256={Sha}&size=1&offset=0", "x", "application/octet-stream", false),
        ["PUT /api/v1/projects/{name}/sources/content"] = ($"sha256={Sha}&size=1&offset=0", "x", "application/octet-stream", false),
        ["POST /api/v1/projects/{name}/links"] = (null, """{"forge":"github","repository":"matrix/{fresh}","secret":"matrix-link-secret-value"}""", "application/json", false),
        ["PUT /api/v1/projects/{name}/secrets/{secret}"] = (null, "matrix-value", "text/plain", false),
        ["POST /api/v1/work-requests/{id}/log"] = ("attempt=1&offset=0", "x", "application/octet-stream", false),
        ["POST /api/v1/environments"] = (null, """{"name":"matrix/{fresh}","suite":"bookworm","architecture":"amd64"}""", "application/json", false),
        ["PUT /api/v1/environments/{distribution}/{name}/upload"] = ($"sha256={Sha}&size=1&offset=0", "x", "application/octet-stream", false),
        ["POST /api/v1/environments/{distribution}/{name}/versions"] = (null, $$"""{"sha256":"{{Sha}}","size":1}""", "application/json", false),
        ["POST /api/v1/events/pause"] = (null, """{"project":"{project}","rule":"matrix-rule"}""", "application/json", true),
        ["POST /api/v1/events/resume"] = (null, """{"project":"{project}","rule":"matrix-rule"}""", "application/json", true),
        ["POST /api/v1/work-requests/{id}/publish"] = (null, $$"""{"leaseToken":"{{Guid0}}"}""", "application/json", false),
        ["POST /api/v1/held/approve"] = (null, """{"project":"{project}","rule":"matrix-no-rule","all":true}""", "application/json", true),
        ["POST /api/v1/held/discard"] = (null, """{"project":"{project}","rule":"matrix-no-rule","all":true}""", "application/json", true),
    };

    /// <summary>The request for one row (<paramref name="bare"/>: without body, query or headers), and whether it names a resource of P; null and why, when the tables lack a row.</summary>
    public async Task<(HttpRequestMessage? Request, bool ProjectScoped, string? Missing)> BuildAsync(string method, string template, IReadOnlyList<string> pathNames, bool hasBody, bool bare = false)
    {
        var path = template;
        var scoped = false;
        foreach (var name in pathNames)
        {
            var row = PathParameters().FirstOrDefault(p => p.Name == name && template.StartsWith(p.Prefix, StringComparison.Ordinal));
            if (row is null)
            {
                return (null, false, $"{method} {template}: no row for path parameter {{{name}}} in AuthorizationMatrixRequests.PathParameters");
            }
            scoped |= row.OfProject;
            path = path.Replace($"{{{name}}}", Uri.EscapeDataString(await row.Value()).Replace("%2F", "/", StringComparison.Ordinal), StringComparison.Ordinal);
        }
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (bare)
        {
            return (request, scoped, null);
        }
        if (Inputs.TryGetValue($"{method} {template}", out var input))
        {
            scoped |= input.NamesProject;
            if (input.Query is { } query)
            {
                request.RequestUri = new Uri($"{path}?{query}", UriKind.Relative);
            }
            var body = input.Body.Replace("{fresh}", farm.FreshName("row"), StringComparison.Ordinal)
                .Replace("{project}", AuthorizationMatrixFarm.Project, StringComparison.Ordinal)
                .Replace("{workRequest}", farm.WorkRequestId.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            request.Content.Headers.TryAddWithoutValidation("Content-Type", input.ContentType);
            request.Headers.Add("Kiln-Lease-Token", Guid0);
        }
        else if (hasBody)
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }
        return (request, scoped, null);
    }
}
