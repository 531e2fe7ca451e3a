using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Server.Hosting;
using Kiln.Store.Identity;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Engine.Tests;

/// <summary>
/// Limits small enough to reach in a handful of requests: 2 a minute per token, 1 per anonymous
/// address, 100 per worker. Buckets refill at that rate (one token every 30 s or 60 s), so the
/// counts below hold however slowly the test runs, short of a minute between two requests.
/// </summary>
public sealed class TightRateLimitsFixture : ServerFixture
{
    public override KilnServerOptions Options(string connectionString) => base.Options(connectionString) with
    {
        RateLimitPerMinute = 2,
        AnonymousRateLimitPerMinute = 1,
        WorkerRateLimitPerMinute = 100,
    };

    /// <summary>A new API token of the farm's admin: a bucket of its own.</summary>
    public async Task<string> NewTokenAsync(string comment)
    {
        var identity = Host.Services.GetRequiredService<IdentityStore>();
        var admin = (await identity.FirstAdminIdAsync(CancellationToken.None))!.Value;
        return (await identity.CreateTokenAsync(admin, comment, Scopes.All, null, CancellationToken.None)).Token;
    }

    /// <summary>
    /// A client whose connections come from <paramref name="source"/> (any 127.x.y.z reaches the
    /// server on loopback), so each test is an address of its own to the per-address budget.
    /// </summary>
    public HttpClient From(string source, string? token = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri(Host.Url), Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return client;
    }
}

public sealed class RateLimitTests(TightRateLimitsFixture server) : IClassFixture<TightRateLimitsFixture>
{
    [Fact]
    public async Task An_anonymous_address_over_its_limit_gets_429_with_retry_after_and_a_problem_naming_the_limit()
    {
        using var anonymous = server.From("127.0.0.11");

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 3; i++)
        {
            var response = await anonymous.GetAsync("/api/v1/workflows/");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused?.Dispose();
                refused = response;
            }
            else
            {
                response.Dispose();
            }
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        using (refused)
        {
            var retryAfter = int.Parse(Assert.Single(refused!.Headers.GetValues("Retry-After")), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(retryAfter, 1, 60);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            var root = problem.RootElement;
            Assert.Equal(429, root.GetProperty("status").GetInt32());
            Assert.Equal("anonymous", root.GetProperty("limit").GetString());
            Assert.Equal(1, root.GetProperty("perMinute").GetInt32());
            Assert.Equal(retryAfter, root.GetProperty("retryAfterSeconds").GetInt32());
            var detail = root.GetProperty("detail").GetString()!;
            Assert.Contains("1 requests a minute", detail, StringComparison.Ordinal);
            Assert.Contains("--anonymous-rate-limit", detail, StringComparison.Ordinal);
            Assert.Contains($"retry in {retryAfter} s", detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_token_over_its_limit_is_refused_while_another_token_and_other_addresses_are_not()
    {
        using var busy = server.From("127.0.0.12", await server.NewTokenAsync("busy script"));
        using var other = server.From("127.0.0.12", await server.NewTokenAsync("another script"));
        using var anonymous = server.From("127.0.0.13");

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await busy.GetAsync("/api/v1/workflows/");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.Equal("token", problem.RootElement.GetProperty("limit").GetString());
                Assert.Contains("--rate-limit", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
                Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
            }
        }
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);

        // The same user's other token, from the same address, and an anonymous caller elsewhere: untouched.
        using var fromOther = await other.GetAsync("/api/v1/workflows/");
        Assert.Equal(HttpStatusCode.OK, fromOther.StatusCode);
        using var fromAnonymous = await anonymous.GetAsync("/api/v1/workflows/");
        Assert.Equal(HttpStatusCode.OK, fromAnonymous.StatusCode);
    }

    [Fact]
    public async Task A_flood_of_reads_from_the_workers_address_does_not_stop_its_claim_heartbeat_and_report()
    {
        using var worker = await server.RegisterWorkerAsync("flooded", queues: ["flooded"]);
        using (var submit = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Jobs = new() { ["only"] = new JobDocument { Run = "true", Requires = new() { Queue = "flooded" } } },
        }))
        {
            Assert.Equal(HttpStatusCode.Created, submit.StatusCode);
        }

        // Reads from the worker's own address (127.0.0.1), anonymous and with the admin's token, far over their budgets.
        using var anonymous = server.AnonymousClient();
        var refusedReads = 0;
        for (var i = 0; i < 10; i++)
        {
            using var read = await anonymous.GetAsync("/api/v1/workflows/");
            using var signedIn = await server.Client.GetAsync("/api/v1/workers/");
            refusedReads += (read.StatusCode == HttpStatusCode.TooManyRequests ? 1 : 0) + (signedIn.StatusCode == HttpStatusCode.TooManyRequests ? 1 : 0);
        }
        Assert.True(refusedReads >= 16, $"the flood should be over the read limits, but only {refusedReads} of 20 reads were refused");

        using var claim = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5));
        Assert.Equal(HttpStatusCode.OK, claim.StatusCode);
        var held = Assert.Single((await claim.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments);
        using var heartbeat = await worker.PostAsJsonAsync("/api/v1/workers/heartbeat", new HeartbeatRequest([new LeaseRef(held.WorkRequestId, held.LeaseToken)]));
        Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        using var done = await worker.PostAsJsonAsync($"/api/v1/work-requests/{held.WorkRequestId}/complete", new CompleteRequest(held.LeaseToken, "succeeded", 0, null));
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
    }

    [Fact]
    public async Task Probes_metrics_and_the_api_description_are_never_limited()
    {
        using var probe = server.From("127.0.0.14");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            foreach (var path in new[] { "/healthz", "/readyz", "/metrics", "/openapi/v1.json" })
            {
                using var response = await probe.GetAsync(path);
                statuses.Add(response.StatusCode);
            }
        }
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
    }

    [Fact]
    public async Task The_client_reads_how_long_the_server_asked_it_to_wait()
    {
        using var http = server.From("127.0.0.15");
        using var client = new KilnClient(http);
        await client.ListWorkflowsAsync(null, null, 10, null, CancellationToken.None);

        var refused = await Assert.ThrowsAsync<KilnApiException>(() => client.ListWorkflowsAsync(null, null, 10, null, CancellationToken.None));

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.Status);
        Assert.True(refused.IsTransient);
        Assert.InRange(refused.RetryAfter!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        Assert.Contains("--anonymous-rate-limit", refused.Message, StringComparison.Ordinal);
    }
}
