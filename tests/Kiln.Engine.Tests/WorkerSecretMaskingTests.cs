using System.Net;
using System.Net.Http.Json;
using System.Text;
using Kiln.Contracts;
using Kiln.Testing;
using Kiln.Worker;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Engine.Tests;

/// <summary>
/// The worker's side of project secrets: a claimed task gets the secrets of its assignment in its
/// environment, and the log and result the server receives have them masked. A real task process
/// (bash) and a real server; the assignment's secrets are filled in by the test, as the server will.
/// </summary>
public sealed class WorkerSecretMaskingTests(WorkerSecretMaskingTests.LongLeaseServer server) : IClassFixture<WorkerSecretMaskingTests.LongLeaseServer>, IDisposable
{
    /// <summary>No heartbeats here (the agent sends them, not the task): a lease that outlasts the task on a loaded machine.</summary>
    public sealed class LongLeaseServer : ServerFixture
    {
        public override Kiln.Server.Hosting.KilnServerOptions Options(string connectionString) =>
            base.Options(connectionString) with { Lease = TimeSpan.FromSeconds(60) };
    }

    private const string Token = "dpl_7f3c9a-Sup3r=s3cret+token";

    private readonly string _workDirectory = Path.Combine(Path.GetTempPath(), $"kiln-masking-{Guid.NewGuid():N}");

    [Fact]
    public async Task A_task_sees_its_secrets_in_its_environment_and_the_server_gets_its_log_and_result_masked()
    {
        using var worker = await server.RegisterWorkerAsync("masking", queues: ["masking"]);
        using (var submitted = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Jobs = new()
            {
                ["publish"] = new JobDocument
                {
                    Requires = new() { Queue = "masking" },
                    Env = new() { ["PLAIN"] = "visible value" },
                    Outputs = ["out-*"],
                    Retry = new() { MaxAttempts = 1 },
                    Run = """
                          echo "raw: $DEPLOY_TOKEN"
                          printf 'b64: %s\n' "$(printf '%s' "$DEPLOY_TOKEN" | base64 -w0)"
                          printf 'basic: %s\n' "$(printf 'ci:%s' "$DEPLOY_TOKEN" | base64 -w0)"
                          # Half now, half after a few shipping ticks: the first half must not reach the server alone.
                          printf 'split: %s' "${DEPLOY_TOKEN:0:12}"
                          sleep 1.2
                          printf '%s\n' "${DEPLOY_TOKEN:12}"
                          echo "plain: $PLAIN"
                          # An output named after the secret is refused (a link): the result's message names it.
                          ln -s /etc/hostname "out-$DEPLOY_TOKEN"
                          """,
                },
            },
        }))
        {
            Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        }
        using var claimed = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5));
        var assignment = Assert.Single((await claimed.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments)
            with { Secrets = new Dictionary<string, string> { ["DEPLOY_TOKEN"] = Token } };

        await RunAsync(assignment, worker);

        var log = await server.Client.GetStringAsync($"/api/v1/work-requests/{assignment.WorkRequestId}/log?attempt=1");
        var tokenBase64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(Token));
        Assert.Contains("raw: ***\n", log, StringComparison.Ordinal);
        Assert.Contains("b64: ***\n", log, StringComparison.Ordinal);
        Assert.Contains("split: ***\n", log, StringComparison.Ordinal);
        Assert.Contains("plain: visible value\n", log, StringComparison.Ordinal);
        Assert.Matches("basic: [A-Za-z0-9+/]{0,6}\\*\\*\\*[A-Za-z0-9+/=]{0,3}\n", log);
        Assert.DoesNotContain(Token[..12], log, StringComparison.Ordinal);
        Assert.DoesNotContain(Token[12..], log, StringComparison.Ordinal);
        Assert.DoesNotContain(tokenBase64[..16], log, StringComparison.Ordinal);
        var view = await server.Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{assignment.WorkRequestId}");
        var attempt = Assert.Single(view!.Attempts);
        Assert.Equal("failed", attempt.Outcome);
        Assert.Contains("'out-***'", attempt.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, attempt.Message, StringComparison.Ordinal);
    }

    private async Task RunAsync(Assignment assignment, HttpClient worker)
    {
        using var client = new KilnClient(worker);
        var retry = new RetryPolicy(TimeProvider.System, (_, _, _) => { });
        var reports = new ReportSender(client, retry);
        using var stop = new CancellationTokenSource();
        var sending = reports.RunAsync(stop.Token);
        var options = new WorkerOptions
        {
            Server = worker.BaseAddress!,
            RegistrationToken = "unused",
            Name = "masking",
            WorkDirectory = _workDirectory,
        };
        using (var run = new TaskRun(assignment, client, reports, options, retry, NullLogger.Instance, TimeProvider.System))
        {
            await run.RunAsync(CancellationToken.None);
        }
        reports.Complete();
        await sending;
    }

    public void Dispose()
    {
        if (Directory.Exists(_workDirectory))
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
    }
}
