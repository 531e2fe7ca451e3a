using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Contracts;
using Kiln.Testing;
using Xunit.Abstractions;

namespace Kiln.Engine.Tests;

/// <summary>
/// Every operation of the server's own OpenAPI document, sent generated bad input — path ids,
/// query parameters, bodies and headers — with and without a worker's secret: no answer is a
/// 5xx, and every 4xx is a problem-details body. Seeded and bounded, so a failure repeats.
/// </summary>
public sealed class ApiFuzzTests(ServerFixture server, ITestOutputHelper output) : IClassFixture<ServerFixture>
{
    /// <summary>Paths in the OpenAPI document. A new endpoint changes it: check that the fuzzing reaches it, then update.</summary>
    private const int DocumentedPaths = 95;

    private const int Seed = 9;

    private static readonly string[] PathValues =
        ["-1", "0", "99999999999999999999", "abc", "1.5", "%00", "a%00b", "%01", "%0A", "%C3%BC%E2%82%AC", "%F0%9F%98%80", "%ED%A0%80", "%FF", "..", new string('9', 3000)];

    private static readonly string[] QueryValues =
        ["%00", "a%00b", "%0A", "%1B[31m", new string('q', 3000), "%F0%9F%98%80", "%ED%A0%80", "%FF", "-1", "99999999999999999999", "abc", "", "1.5", "true", "1e99"];

    /// <summary>Values put in place of one field of an otherwise well-formed body (never a small positive number: no long-polls).</summary>
    private static readonly Func<JsonNode?>[] FieldValues =
    [
        () => null,
        () => JsonValue.Create("a\u0000b"),
        () => JsonValue.Create("\u001b[2J"),
        () => JsonValue.Create(-1),
        () => JsonValue.Create(1.5),
        () => JsonValue.Create(1e30),
        () => JsonValue.Create(long.MaxValue),
        () => JsonValue.Create("x"),
        () => JsonValue.Create(true),
        () => new JsonObject(),
        () => new JsonArray(),
        () => new JsonArray((JsonNode?)null),
        () => new JsonArray(JsonValue.Create("\u0000")),
        () => JsonValue.Create(new string('s', 70_000)),
        () => JsonValue.Create("ü€😀"),
    ];

    /// <summary>
    /// Well-formed bodies for operations whose schema-built example would be refused before it
    /// reaches the database (a workflow needs a job that exists): each mutation then changes one
    /// field of a request that would otherwise be stored.
    /// </summary>
    private static readonly Dictionary<string, string> ValidBodies = new()
    {
        ["POST /api/v1/workflows"] = """
            {"name":"fuzz","project":"fuzz","trigger":"push","priority":1,"defaults":{"timeout":60,"env":{"D":"d"}},
             "jobs":{"a":{"run":"echo ${{ matrix.x }}","matrix":{"x":["1","2"]},"env":{"K":"v"},"outputs":["o/*"],
                          "requires":{"architecture":"amd64","tags":["t"],"queue":"fuzz-nobody"},"retry":{"maxAttempts":2,"backoffSeconds":1}},
                     "b":{"run":"true","needs":["a"],"requires":{"queue":"fuzz-nobody"}}}}
            """,
        ["PUT /api/v1/projects/{name}"] = """{"weight":2,"basePriority":0,"maxRunning":5}""",
        ["POST /api/v1/workers/register"] = """{"name":"fuzz-registered","architectures":["amd64"],"tags":["t"],"queues":["fuzz-nobody"],"slots":1}""",
    };

    private static readonly (string, string)[][] BadHeaders =
    [
        [("Idempotency-Key", "k\u0001")], [("Idempotency-Key", new string('k', 3000))], [("Kiln-Lease-Token", "not-a-guid")],
        [("Kiln-Lease-Token", "\u007f")], [("Authorization", "Bearer " + new string('t', 600))], [("Authorization", "Basic eDp5")],
    ];

    [Fact]
    public async Task No_bad_input_to_any_documented_operation_gets_a_5xx_and_every_4xx_is_a_problem()
    {
        using var worker = await server.RegisterWorkerAsync("fuzzer", queues: ["fuzz"]);
        using var registrar = server.NewClient();
        registrar.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.Host.WorkerToken);
        var existing = await SeedAsync(worker);

        var document = (await server.Client.GetFromJsonAsync<JsonObject>("/openapi/v1.json"))!;
        var paths = document["paths"]!.AsObject();
        Assert.Equal(DocumentedPaths, paths.Count);

        var random = new Random(Seed);
        var cases = new List<FuzzCase>();
        foreach (var (template, item) in paths)
        {
            foreach (var (method, operation) in item!.AsObject().Where(o => o.Key is "get" or "post" or "put" or "delete" or "patch"))
            {
                cases.AddRange(CasesFor(template, method.ToUpperInvariant(), operation!.AsObject(), document, existing, random));
            }
        }

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var reached = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>();
        var sends = cases.SelectMany(c => (c.Path.EndsWith("/register", StringComparison.Ordinal) ? new[] { server.Client, registrar } : [server.Client, worker])
            .Select(client => (Case: c, Client: client))).ToList();
        var sent = sends.Count;
        await Parallel.ForEachAsync(sends, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (send, ct) =>
        {
            var (c, client) = send;
            using var request = c.Build();
            using var response = await client.SendAsync(request, ct);
            reached[c.Template] = true;
            var status = (int)response.StatusCode;
            var text = await response.Content.ReadAsStringAsync(ct);
            var who = client == server.Client ? "anonymous" : "authenticated";
            if (status >= 500)
            {
                failures.Add($"{c.Describe()} [{who}] → {status}: {Cut(text)}");
            }
            else if (status >= 400 && !IsKestrelRefusal(c, response, text) && ProblemShapeError(response, text, status) is { } shape)
            {
                failures.Add($"{c.Describe()} [{who}] → {status} {shape}: {Cut(text)}");
            }
        });
        output.WriteLine($"{sent} requests over {cases.Count} cases and {paths.Count} paths; {failures.Count} failures");

        Assert.Equal(paths.Select(p => p.Key).Order(), reached.Keys.Order());
        Assert.True(failures.IsEmpty, $"{failures.Count} of {sent} answers were wrong:\n{string.Join("\n", failures.Order().Distinct().Take(40))}");
    }

    /// <summary>A workflow with a running work request (held by the fuzzing worker) and a pending one, so ids that exist reach real code.</summary>
    private async Task<long> SeedAsync(HttpClient worker)
    {
        using var submitted = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Jobs = new()
            {
                ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = "fuzz" } },
                ["b"] = new JobDocument { Run = "true", Requires = new() { Queue = "fuzz" }, Needs = ["a"] },
            },
        });
        submitted.EnsureSuccessStatusCode();
        using var claimed = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5));
        return Assert.Single((await claimed.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments).WorkRequestId;
    }

    private static IEnumerable<FuzzCase> CasesFor(string template, string method, JsonObject operation, JsonObject document, long existing, Random random)
    {
        var parameters = (operation["parameters"]?.AsArray() ?? []).Select(p => p!.AsObject()).ToList();
        var pathNames = parameters.Where(p => (string?)p["in"] == "path").Select(p => (string)p["name"]!).ToList();
        var queryNames = parameters.Where(p => (string?)p["in"] == "query").Select(p => (string)p["name"]!).ToList();
        string PathWith(string? name, string value) => pathNames.Aggregate(template, (t, n) =>
            t.Replace($"{{{n}}}", n == name ? value : n == "id" ? existing.ToString(System.Globalization.CultureInfo.InvariantCulture) : "default", StringComparison.Ordinal));
        var validPath = PathWith(null, "");
        var (contentType, sample) = SampleBody(operation, document);
        if (ValidBodies.TryGetValue($"{method} {template}", out var valid))
        {
            sample = JsonNode.Parse(valid)!.ToJsonString();
        }
        FuzzCase Case(string path, string? body = null, string? type = null, (string, string)[]? headers = null) =>
            new(template, method, path, body ?? sample, body is null ? contentType : type, headers ?? []);

        yield return Case(validPath);
        foreach (var name in pathNames)
        {
            foreach (var value in PathValues)
            {
                yield return Case(PathWith(name, value));
            }
        }
        foreach (var name in queryNames)
        {
            foreach (var value in QueryValues)
            {
                yield return Case($"{validPath}?{name}={value}");
            }
        }
        if (queryNames.Count > 1)
        {
            for (var i = 0; i < 4; i++)
            {
                yield return Case($"{validPath}?{string.Join("&", queryNames.Select(n => $"{n}={QueryValues[random.Next(QueryValues.Length)]}"))}");
            }
        }
        foreach (var headers in BadHeaders)
        {
            yield return Case(validPath, headers: headers);
        }
        if (contentType is null)
        {
            yield return Case(validPath, "{}", "application/json");
            yield break;
        }
        if (contentType != "application/json")
        {
            yield return Case(validPath, "", contentType);
            yield return Case(validPath, Convert.ToBase64String(RandomBytes(random, 3000)), contentType);
            yield return Case(validPath, "{}", "application/json");
            yield break;
        }
        foreach (var whole in (string[])["", "[]", "\"x\"", "1", "null", "true", "{}", sample![..(sample!.Length / 2)], "{\"a\":", new string('[', 200) + new string(']', 200),
            string.Concat(Enumerable.Repeat("{\"a\":", 200)) + "1" + new string('}', 200), "{\"x\":\"" + new string('x', 200_000) + "\"}", "\uFEFF{}"])
        {
            yield return Case(validPath, whole, "application/json");
        }
        yield return Case(validPath, sample, "text/plain");
        yield return Case(validPath, sample, "application/xml");
        var root = JsonNode.Parse(sample!)!;
        foreach (var leaf in Leaves(root, ""))
        {
            foreach (var i in Enumerable.Range(0, FieldValues.Length).OrderBy(_ => random.Next()).Take(5).Append(1).Append(0).Distinct())
            {
                yield return Case(validPath, Replace(root, leaf, FieldValues[i]()), "application/json");
            }
        }
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>The request body's media type and a well-formed example built from its schema (null when it has none).</summary>
    private static (string? ContentType, string? Sample) SampleBody(JsonObject operation, JsonObject document)
    {
        if (operation["requestBody"]?["content"]?.AsObject() is not { Count: > 0 } content)
        {
            return (null, null);
        }
        var (type, media) = content.First();
        return (type, type == "application/json" ? Sample(media?["schema"], document, 0)?.ToJsonString() ?? "{}" : "");
    }

    private static JsonNode? Sample(JsonNode? schema, JsonObject document, int depth)
    {
        if (schema is not JsonObject s || depth > 6)
        {
            return null;
        }
        if (s["$ref"] is { } reference)
        {
            return Sample(document["components"]!["schemas"]![((string)reference!).Split('/')[^1]], document, depth + 1);
        }
        if ((s["anyOf"] ?? s["oneOf"]) is JsonArray options)
        {
            return Sample(options.FirstOrDefault(o => !IsNull(o)), document, depth);
        }
        var type = s["type"] switch
        {
            JsonArray types => types.Select(t => (string?)t).FirstOrDefault(t => t != "null"),
            JsonValue v => (string?)v,
            _ => s["properties"] is not null ? "object" : null,
        };
        return type switch
        {
            "object" when s["properties"] is JsonObject properties =>
                new JsonObject(properties.Select(p => KeyValuePair.Create(p.Key, Sample(p.Value, document, depth + 1)))),
            "object" => s["additionalProperties"] is JsonObject values ? new JsonObject { ["key"] = Sample(values, document, depth + 1) } : new JsonObject(),
            "array" => new JsonArray(Sample(s["items"], document, depth + 1)),
            "integer" or "number" => JsonValue.Create(0),
            "boolean" => JsonValue.Create(false),
            "string" when (string?)s["format"] == "uuid" => JsonValue.Create(Guid.NewGuid()),
            "string" when (string?)s["format"] == "date-time" => JsonValue.Create("2026-01-01T00:00:00Z"),
            "string" => JsonValue.Create("x"),
            _ => null,
        };
    }

    private static bool IsNull(JsonNode? schema) => schema?["type"] is JsonValue v && (string?)v == "null";

    /// <summary>JSON pointers of every value below the root (objects and arrays included, so each can be replaced whole).</summary>
    private static IEnumerable<string> Leaves(JsonNode? node, string pointer)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o)
                {
                    yield return $"{pointer}/{key}";
                    foreach (var inner in Leaves(value, $"{pointer}/{key}"))
                    {
                        yield return inner;
                    }
                }
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    yield return $"{pointer}/{i}";
                    foreach (var inner in Leaves(a[i], $"{pointer}/{i}"))
                    {
                        yield return inner;
                    }
                }
                break;
        }
    }

    private static string Replace(JsonNode root, string pointer, JsonNode? value)
    {
        var copy = root.DeepClone();
        var parts = pointer.Split('/')[1..];
        var parent = parts[..^1].Aggregate(copy, (n, p) => n is JsonArray a ? a[int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)]! : n[p]!);
        if (parent is JsonArray array)
        {
            array[int.Parse(parts[^1], System.Globalization.CultureInfo.InvariantCulture)] = value;
        }
        else
        {
            parent[parts[^1]] = value;
        }
        return copy.ToJsonString();
    }

    /// <summary>
    /// Kestrel refuses a request target whose path decodes to U+0000 itself, with a bare 400,
    /// before any of Kiln's code runs (docs/api.md says so); nothing else may be a 4xx without a problem.
    /// </summary>
    private static bool IsKestrelRefusal(FuzzCase c, HttpResponseMessage response, string text) =>
        response.StatusCode == System.Net.HttpStatusCode.BadRequest && text.Length == 0 && c.Path.Split('?')[0].Contains("%00", StringComparison.Ordinal);

    private static string? ProblemShapeError(HttpResponseMessage response, string text, int status)
    {
        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            return $"is not application/problem+json ({response.Content.Headers.ContentType?.MediaType ?? "no content type"})";
        }
        try
        {
            var body = JsonDocument.Parse(text).RootElement;
            return body.TryGetProperty("title", out var title) && title.ValueKind == JsonValueKind.String
                && body.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Number && s.GetInt32() == status
                ? null
                : "lacks a title or the right status";
        }
        catch (JsonException)
        {
            return "is not JSON";
        }
    }

    private static string Cut(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private sealed record FuzzCase(string Template, string Method, string Path, string? Body, string? ContentType, (string Name, string Value)[] Headers)
    {
        public HttpRequestMessage Build()
        {
            var request = new HttpRequestMessage(new HttpMethod(Method), Path);
            if (Body is not null && ContentType is not null)
            {
                request.Content = new ByteArrayContent(ContentType == "application/octet-stream" ? Encoding.Latin1.GetBytes(Body) : Encoding.UTF8.GetBytes(Body));
                request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
            }
            foreach (var (name, value) in Headers)
            {
                request.Headers.Remove(name);
                request.Headers.TryAddWithoutValidation(name, value);
            }
            return request;
        }

        public string Describe() =>
            $"{Method} {Cut(Path)}{(Headers.Length > 0 ? $" with {string.Join(", ", Headers.Select(h => $"{h.Name}: {Cut(h.Value)}"))}" : "")}" +
            $"{(Body is { Length: > 0 } ? $" body {ContentType} {(Body.Length <= 120 ? Body : Body[..120] + "…")}" : "")}";

        private static string Cut(string text) => text.Length <= 80 ? text : text[..80] + "…";
    }
}
