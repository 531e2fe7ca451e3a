using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Testing;
using Kiln.Worker;
using Kiln.Worker.Isolation;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Engine.Tests.Isolation;

/// <summary>
/// Runs jobs in the cached test environment through a real <see cref="TaskRun"/> against a real server: the job is
/// submitted and claimed as any, and the test fills in the assignment's execution (environment, network, limits)
/// as the server does for a job with <c>environment:</c>. The worker's cache is filled from the tarball on disk
/// through the same verification and extraction as a download.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class EnvironmentJobs : IAsyncDisposable
{
    private readonly ServerFixture _server;
    private readonly string _queue;

    private EnvironmentJobs(ServerFixture server, string queue, string workDirectory, EnvironmentRef environment, EnvironmentCache cache)
    {
        _server = server;
        _queue = queue;
        WorkDirectory = workDirectory;
        Environment = environment;
        Cache = cache;
    }

    public string WorkDirectory { get; }

    public EnvironmentRef Environment { get; }

    internal EnvironmentCache Cache { get; }

    internal static async Task<EnvironmentJobs> CreateAsync(ServerFixture server, string queue)
    {
        var tarball = await TestEnvironments.EssentialAsync();
        string sha;
        await using (var file = File.OpenRead(tarball))
        {
            sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(file));
        }
        var environment = new EnvironmentRef("test/essential", 1, sha, new FileInfo(tarball).Length);
        var work = Path.Combine(Path.GetTempPath(), $"kiln-iso-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        var ids = SubordinateIds.ForCurrentUser().Ids ?? throw new InvalidOperationException("no subordinate ids for root in /etc/subuid");
        var cache = new EnvironmentCache(Path.Combine(work, "environments"), 20L << 30, ids, NullLogger.Instance, TimeProvider.System);
        using (await cache.AcquireAsync(environment, (from, into, ct) => CopyFromAsync(tarball, from, into, ct), _ => { }, CancellationToken.None))
        {
        }
        return new EnvironmentJobs(server, queue, work, environment, cache);
    }

    /// <summary>A local file as a download: from byte <paramref name="from"/> on.</summary>
    public static async Task CopyFromAsync(string file, long from, Stream into, CancellationToken ct)
    {
        await using var source = File.OpenRead(file);
        source.Position = from;
        await source.CopyToAsync(into, ct);
    }

    /// <summary>Submits <paramref name="script"/>, claims it, runs it in the environment; <paramref name="whileRunning"/> is given the run once it started.</summary>
    internal async Task<(AttemptView Attempt, string Log)> RunAsync(string script, bool network = false, JobLimits? limits = null, Func<TaskRun, Task>? whileRunning = null)
    {
        using var worker = await _server.RegisterWorkerAsync($"iso-{Guid.NewGuid():N}"[..12], queues: [_queue]);
        using (var submitted = await _server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Jobs = new() { ["job"] = new JobDocument { Requires = new() { Queue = _queue }, Retry = new() { MaxAttempts = 1 }, Run = script } },
        }))
        {
            Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        }
        using var claimed = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5));
        var assignment = Assert.Single((await claimed.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments)
            with { Execution = new JobExecution { Environment = Environment, Network = network, Limits = limits ?? JobLimits.Default } };

        using var client = new KilnClient(worker);
        var retry = new RetryPolicy(TimeProvider.System, (_, _, _) => { });
        var reports = new ReportSender(client, retry);
        using var stop = new CancellationTokenSource();
        var sending = reports.RunAsync(stop.Token);
        var options = new WorkerOptions { Server = worker.BaseAddress!, RegistrationToken = "unused", Name = "iso", WorkDirectory = WorkDirectory };
        using (var run = new TaskRun(assignment, client, reports, options, retry, NullLogger.Instance, TimeProvider.System, 0, Cache))
        {
            var running = run.RunAsync(CancellationToken.None);
            if (whileRunning is not null)
            {
                await whileRunning(run);
            }
            await running;
        }
        reports.Complete();
        await sending;
        var log = await _server.Client.GetStringAsync($"/api/v1/work-requests/{assignment.WorkRequestId}/log?attempt=1");
        var view = await _server.Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{assignment.WorkRequestId}");
        return (Assert.Single(view!.Attempts), log);
    }

    public ValueTask DisposeAsync()
    {
        if (Directory.Exists(WorkDirectory))
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        return ValueTask.CompletedTask;
    }
}
