using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Kiln.Testing;
using Xunit.Abstractions;

namespace Kiln.Engine.Tests;

/// <summary>
/// The authorization matrix, generated from the server's own OpenAPI document: every documented
/// operation, called by every kind of caller on a resource of a private project, answers as its
/// declared policy (<c>x-kiln-policy</c>) says. A new endpoint appears in the document and is
/// checked by the same rules; one without a policy the rules know, or with a path parameter the
/// request tables cannot fill, fails the test until someone decides.
/// </summary>
public sealed class AuthorizationMatrixTests(ServerFixture server, ITestOutputHelper output) : IClassFixture<ServerFixture>
{
    private static readonly string[] Methods = ["get", "post", "put", "delete", "patch"];

    /// <summary>Admin last: it is the one caller whose destructive calls go through.</summary>
    private static readonly MatrixCaller[] Callers = [.. Enum.GetValues<MatrixCaller>().OrderBy(c => c == MatrixCaller.Admin)];

    [Fact]
    public async Task Every_documented_operation_answers_every_kind_of_caller_as_its_declared_policy_says()
    {
        var farm = await AuthorizationMatrixFarm.CreateAsync(server);
        var requests = new AuthorizationMatrixRequests(farm);
        using var client = server.AnonymousClient();
        var document = (await client.GetFromJsonAsync<JsonObject>("/openapi/v1.json"))!;

        var failures = new List<string>();
        var sent = 0;
        var policies = new SortedSet<string>();
        foreach (var (template, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, node) in item!.AsObject().Where(o => Methods.Contains(o.Key)))
            {
                var operation = node!.AsObject();
                var name = $"{method.ToUpperInvariant()} {template}";
                var policy = (string?)operation["x-kiln-policy"];
                if (policy is null || !AuthorizationMatrixRules.KnownPolicies.Contains(policy))
                {
                    failures.Add($"{name}: policy '{policy ?? "(none)"}' is not one the matrix knows");
                    continue;
                }
                policies.Add(policy);
                var pathNames = (operation["parameters"]?.AsArray() ?? []).Where(p => (string?)p!["in"] == "path").Select(p => (string)p!["name"]!).ToList();
                foreach (var caller in Callers)
                {
                    var (request, scoped, missing) = await requests.BuildAsync(method.ToUpperInvariant(), template, pathNames, operation["requestBody"] is not null);
                    if (request is null)
                    {
                        failures.Add(missing!);
                        break;
                    }
                    using (request)
                    {
                        if (AuthorizationMatrixRules.Expect(policy, caller, scoped, pathNames.Count > 0) is not { } expected)
                        {
                            failures.Add($"{name} ({policy}) by {caller}: no rule says what to expect; add one to AuthorizationMatrixRules");
                            continue;
                        }
                        if (farm.TokenOf(caller) is { } token)
                        {
                            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                        }
                        using var response = await client.SendAsync(request);
                        sent++;
                        var status = (int)response.StatusCode;
                        var text = await response.Content.ReadAsStringAsync();
                        if (!AuthorizationMatrixRules.Accepts(expected, status))
                        {
                            failures.Add($"{name} ({policy}) by {caller}: expected {expected}, got {status} {Cut(text)}");
                        }
                        else if (status == 401 && policy != "registration" && response.Headers.WwwAuthenticate.Count == 0)
                        {
                            failures.Add($"{name} ({policy}) by {caller}: a 401 without WWW-Authenticate");
                        }
                        else if (expected == MatrixOutcome.Succeeds && !scoped && Hides(caller)
                            && text.Contains(AuthorizationMatrixFarm.Project, StringComparison.Ordinal))
                        {
                            failures.Add($"{name} ({policy}) by {caller}: the answer names the private project: {Cut(text)}");
                        }
                    }
                }
                if (policy != "public")
                {
                    await CheckBareAsync(client, farm, requests, failures, name, policy, method, template, pathNames);
                    sent += policy == "read" ? 1 : 2;
                }
                if (policy == "read" && pathNames.Count == 0)
                {
                    sent += await CheckFiltersAsync(client, farm, failures, name, template, operation);
                }
            }
        }
        output.WriteLine($"{sent} requests; policies seen: {string.Join(", ", policies)}");
        Assert.True(failures.Count == 0, $"{failures.Count} rows of the authorization matrix are wrong:\n{string.Join("\n", failures)}");
        // Every policy a documented endpoint has today is exercised (public, read, submit, operate, admin, worker, registration at least).
        Assert.Superset(new SortedSet<string>(["public", "read", "submit", "operate", "admin", "worker", "registration"]), policies);
    }

    [Fact]
    public async Task The_OpenAPI_document_declares_the_bearer_scheme_and_each_operations_policy_security_and_refusals()
    {
        using var client = server.AnonymousClient();
        var document = (await client.GetFromJsonAsync<JsonObject>("/openapi/v1.json"))!;
        var scheme = document["components"]!["securitySchemes"]!["bearerAuth"]!;
        Assert.Equal("http", (string?)scheme["type"]);
        Assert.Equal("bearer", (string?)scheme["scheme"]);
        foreach (var kind in (string[])["kiln_pat_", "kiln_reg_", "kiln_wrk_"])
        {
            Assert.Contains(kind, (string?)scheme["description"], StringComparison.Ordinal);
        }

        var operations = document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject().Where(o => Methods.Contains(o.Key))
            .Select(o => (Name: $"{o.Key.ToUpperInvariant()} {p.Key}", Operation: o.Value!.AsObject()))).ToDictionary(o => o.Name, o => o.Operation);
        string[] Responses(string name) => [.. operations[name]["responses"]!.AsObject().Select(r => r.Key)];
        string Security(string name) => operations[name]["security"]?.ToJsonString() ?? "none";

        Assert.Equal("public", (string?)operations["GET /healthz"]["x-kiln-policy"]);
        Assert.Equal("none", Security("GET /healthz"));
        Assert.DoesNotContain("401", Responses("GET /healthz"));
        Assert.DoesNotContain("429", Responses("GET /healthz"));

        // Read: anonymous or a token; 404 for a workflow that does not exist or is private.
        Assert.Equal("read", (string?)operations["GET /api/v1/workflows/{id}"]["x-kiln-policy"]);
        Assert.Equal("""[{},{"bearerAuth":[]}]""", Security("GET /api/v1/workflows/{id}"));
        Assert.Superset(new HashSet<string>(["200", "401", "403", "404", "429"]), new HashSet<string>(Responses("GET /api/v1/workflows/{id}")));
        Assert.Contains("private project", (string?)operations["GET /api/v1/workflows/{id}"]["responses"]!["404"]!["description"], StringComparison.Ordinal);
        Assert.Equal("application/problem+json", operations["GET /api/v1/workflows/{id}"]["responses"]!["404"]!["content"]!.AsObject().Single().Key);

        Assert.Equal("operate", (string?)operations["POST /api/v1/workflows/{id}/cancel"]["x-kiln-policy"]);
        Assert.Equal("""[{"bearerAuth":[]}]""", Security("POST /api/v1/workflows/{id}/cancel"));
        Assert.Contains("maintainer", (string?)operations["POST /api/v1/workflows/{id}/cancel"]["responses"]!["403"]!["description"], StringComparison.Ordinal);
        // The endpoint's own 409 stays beside the added refusals.
        Assert.Superset(new HashSet<string>(["201", "200", "400", "401", "403", "409", "429"]), new HashSet<string>(Responses("POST /api/v1/workflows")));
        Assert.DoesNotContain("404", Responses("POST /api/v1/workflows"));
        Assert.Equal("worker", (string?)operations["POST /api/v1/workers/claim"]["x-kiln-policy"]);
        Assert.Equal("registration", (string?)operations["POST /api/v1/workers/register"]["x-kiln-policy"]);
        Assert.All(operations.Where(o => (string?)o.Value["x-kiln-policy"] != "public"), o => Assert.Contains("401", Responses(o.Key)));
    }

    /// <summary>
    /// Authentication comes before any input is read: the same operation with no body, query or
    /// headers answers a revoked token (and, where the policy needs a caller, nobody) 401, not a
    /// 400 about the missing input.
    /// </summary>
    private static async Task CheckBareAsync(HttpClient client, AuthorizationMatrixFarm farm, AuthorizationMatrixRequests requests, List<string> failures,
        string name, string policy, string method, string template, List<string> pathNames)
    {
        foreach (var caller in policy == "read" ? [MatrixCaller.RevokedToken] : new[] { MatrixCaller.Anonymous, MatrixCaller.RevokedToken })
        {
            var (request, _, _) = await requests.BuildAsync(method.ToUpperInvariant(), template, pathNames, hasBody: false, bare: true);
            if (request is null)
            {
                continue; // the main loop has said which row is missing
            }
            using (request)
            {
                if (farm.TokenOf(caller) is { } token)
                {
                    request!.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                }
                using var response = await client.SendAsync(request!);
                if ((int)response.StatusCode != 401)
                {
                    failures.Add($"{name} ({policy}) by {caller}, without body or query: expected 401 before any input is read, got {(int)response.StatusCode} {Cut(await response.Content.ReadAsStringAsync())}");
                }
            }
        }
    }

    /// <summary>
    /// A list filtered by P (its name, its workflow) is empty for callers that may not see P, as
    /// for a project that does not exist, and not empty for its viewer (so the check can fail).
    /// </summary>
    private static async Task<int> CheckFiltersAsync(HttpClient client, AuthorizationMatrixFarm farm, List<string> failures, string name, string template, JsonObject operation)
    {
        var queries = (operation["parameters"]?.AsArray() ?? []).Where(p => (string?)p!["in"] == "query").Select(p => (string)p!["name"]!).ToHashSet();
        var filters = new Dictionary<string, string>
        {
            ["project"] = AuthorizationMatrixFarm.Project,
            ["workflow"] = farm.WorkflowId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var sent = 0;
        foreach (var (query, value) in filters.Where(f => queries.Contains(f.Key)))
        {
            foreach (var caller in (MatrixCaller[])[MatrixCaller.Anonymous, MatrixCaller.OwnerOfOtherProject, MatrixCaller.WorkerOfOtherPool, MatrixCaller.Viewer])
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{template}?{query}={Uri.EscapeDataString(value)}");
                if (farm.TokenOf(caller) is { } token)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                }
                using var response = await client.SendAsync(request);
                sent++;
                var text = await response.Content.ReadAsStringAsync();
                var items = response.IsSuccessStatusCode ? JsonNode.Parse(text)?["items"]?.AsArray().Count : null;
                if (items is null || (items > 0) != (caller == MatrixCaller.Viewer))
                {
                    failures.Add($"{name}?{query}=P by {caller}: expected {(caller == MatrixCaller.Viewer ? "P's items" : "an empty list")}, got {(int)response.StatusCode} {Cut(text)}");
                }
            }
        }
        return sent;
    }

    /// <summary>Callers that may not see the private project at all.</summary>
    private static bool Hides(MatrixCaller caller) => caller is MatrixCaller.Anonymous or MatrixCaller.OwnerOfOtherProject or MatrixCaller.WorkerOfOtherPool;

    private static string Cut(string text) => text.Length <= 200 ? text : text[..200] + "…";
}
