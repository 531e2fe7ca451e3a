using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Kiln.Contracts;
using Kiln.Testing;
using Xunit.Abstractions;

namespace Kiln.EndToEnd.Tests;

/// <summary>Two real <c>kiln server</c> processes on one database: leadership moves when the leader freezes, and comes back fenced.</summary>
public sealed class LeadershipFailoverTests(ITestOutputHelper output)
{
    private const int LeadershipSeconds = 5;
    private const int SIGCONT = 18;
    private const int SIGSTOP = 19;

    [Fact]
    public async Task A_frozen_leader_is_replaced_and_the_expired_lease_reaped_and_once_thawed_it_runs_no_duty()
    {
        var connectionString = await TestCluster.CreateDatabaseAsync("failover");
        var directory = Directory.CreateTempSubdirectory("kiln-e2e-failover-").FullName;
        var (urlA, urlB) = ($"http://127.0.0.1:{FreePort()}", $"http://127.0.0.1:{FreePort()}");
        await using var a = StartServer(connectionString, urlA, Path.Combine(directory, "a"));
        using var clientA = new KilnClient(new Uri(urlA));
        var statusA = await WaitForStatusAsync(clientA, a, s => s.Leadership.Leader == s.Replica.Id, "the first server to lead");
        var idA = statusA.Replica.Id;

        await using var b = StartServer(connectionString, urlB, Path.Combine(directory, "b"));
        using var clientB = new KilnClient(new Uri(urlB), (await File.ReadAllTextAsync(Path.Combine(directory, "a", "admin-token"))).Trim());
        var statusB = await WaitForStatusAsync(clientB, b, s => s.Leadership.Leader is not null, "the second server to answer");
        var idB = statusB.Replica.Id;
        Assert.Equal(idA, statusB.Leadership.Leader);
        Assert.False(statusB.Replica.Leading);
        string Diagnostics() => $"server A ({idA}):\n{a.Output}\nserver B ({idB}):\n{b.Output}";

        // A worker claims through B and then goes silent: its 3 s lease will expire with nobody renewing it.
        using var worker = new KilnClient(new Uri(urlB));
        await worker.RegisterWorkerAsync(Farm.Token, new RegisterWorkerRequest("silent-worker", ["amd64"], [], ["builds"], 1), CancellationToken.None);
        var submitted = await clientB.SubmitAsync(new WorkflowDocument { Name = "failover", Jobs = new() { ["job"] = new JobDocument { Run = "true" } } }, CancellationToken.None);
        var claimed = Assert.Single((await worker.ClaimAsync(new ClaimRequest(1, 10), CancellationToken.None)).Assignments);

        // Freeze the leader before the lease expires, so only a new leader can reap it.
        var frozen = Stopwatch.StartNew();
        a.Signal(SIGSTOP);
        try
        {
            await WaitForStatusAsync(clientB, b, s => s.Leadership.Leader == idB && s.Replica.Leading, "the second server to take over", Diagnostics);
            var takeover = frozen.Elapsed;
            await Eventually.TrueAsync(async () =>
                (await clientB.GetWorkRequestAsync(claimed.WorkRequestId, CancellationToken.None)).Attempts.Any(x => x.Outcome == "lost"),
                Farm.Patience, "the new leader to reap the expired lease", Diagnostics);
            var reaped = frozen.Elapsed;
            output.WriteLine($"leadership takeover after SIGSTOP: {takeover.TotalSeconds:0.0} s (leadership lease {LeadershipSeconds} s, duty tick 1 s); " +
                $"expired work lease reaped by the new leader {reaped.TotalSeconds:0.0} s after SIGSTOP");
            Assert.Contains("Lease reaper ended", b.Output, StringComparison.Ordinal);
            Assert.Contains("now leads the background duties", b.Output, StringComparison.Ordinal);
        }
        finally
        {
            a.Signal(SIGCONT);
        }

        // Thawed, the old leader learns it lost leadership, says so, and follows.
        var outputBeforeThaw = a.Output.Length;
        var thawed = await WaitForStatusAsync(clientA, a, s => s.Leadership.Leader == idB && !s.Replica.Leading, "the old leader to follow", Diagnostics);
        Assert.True(thawed.Leadership.Fence >= 2);
        await Eventually.TrueAsync(() => a.Output.Contains("Lost duty leadership", StringComparison.Ordinal), Farm.Patience,
            "the old leader to log its loss", Diagnostics);

        // Another lease expires: the new leader reaps it, the old one runs no duty at all.
        var second = await clientB.SubmitAsync(new WorkflowDocument { Name = "after-thaw", Jobs = new() { ["job"] = new JobDocument { Run = "true" } } }, CancellationToken.None);
        var claimedAgain = (await worker.ClaimAsync(new ClaimRequest(1, 10), CancellationToken.None)).Assignments;
        Assert.NotEmpty(claimedAgain);
        await Eventually.TrueAsync(async () =>
        {
            var views = await Task.WhenAll(claimedAgain.Select(c => clientB.GetWorkRequestAsync(c.WorkRequestId, CancellationToken.None)));
            return views.All(v => v.Attempts.Any(x => x.Outcome == "lost" && x.Attempt == claimedAgain.Single(c => c.WorkRequestId == v.Summary.Id).Attempt));
        }, Farm.Patience, "the leader to reap the second expired lease", Diagnostics);
        var afterThaw = a.Output[Math.Min(outputBeforeThaw, a.Output.Length)..];
        Assert.DoesNotContain("Lease reaper ended", afterThaw, StringComparison.Ordinal);
        Assert.DoesNotContain("now leads the background duties", afterThaw, StringComparison.Ordinal);
        Assert.True(second.Id > submitted.Id);
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A straggler still writing; /tmp is cleaned eventually.
        }
    }

    private static KilnProcess StartServer(string connectionString, string url, string dataDirectory) => KilnProcess.Start([
        "server", "--database", connectionString, "--urls", url, "--data-dir", dataDirectory, "--worker-token", Farm.Token,
        "--lease-seconds", "3", "--heartbeat-seconds", "1", "--leadership-seconds", LeadershipSeconds.ToString(CultureInfo.InvariantCulture)]);

    private static async Task<FarmStatus> WaitForStatusAsync(KilnClient client, KilnProcess server, Func<FarmStatus, bool> condition, string what, Func<string>? diagnostics = null)
    {
        FarmStatus? status = null;
        await Eventually.TrueAsync(async () =>
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"{server.Description} exited with {server.ExitCode}:\n{server.Output}");
            }
            try
            {
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                status = await client.GetStatusAsync(quick.Token);
                return condition(status);
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                return false;
            }
        }, Farm.Patience, what, diagnostics ?? (() => server.Output));
        return status!;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
