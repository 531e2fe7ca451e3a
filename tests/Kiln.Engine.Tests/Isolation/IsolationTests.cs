using System.Net;
using System.Net.Sockets;
using Kiln.Contracts;
using Kiln.Worker;

namespace Kiln.Engine.Tests.Isolation;

/// <summary>
/// What a job in an environment cannot do (needs root, /etc/subuid for root, mmdebstrap and Debian's mirror the
/// first time, then the cached tarball): reach the host's network, see the host's or the worker's files, outgrow
/// its memory, process or disk limits, or leave a process behind after a cancel.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class IsolationTests(IsolationTests.Server server) : IClassFixture<IsolationTests.Server>
{
    /// <summary>No heartbeats here (the agent sends them): a lease that outlasts the job on a loaded machine.</summary>
    public sealed class Server : Kiln.Testing.ServerFixture
    {
        public override Kiln.Server.Hosting.KilnServerOptions Options(string connectionString) =>
            base.Options(connectionString) with { Lease = TimeSpan.FromSeconds(120) };
    }

    private const long MiB = 1 << 20;

    [Fact]
    public async Task A_job_in_an_environment_cannot_reach_a_listener_on_the_hosts_loopback_unless_it_asks_for_the_network()
    {
        await using var jobs = await EnvironmentJobs.CreateAsync(server, "iso-net");
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var script = $"if exec 3<>/dev/tcp/127.0.0.1/{port}; then echo REACHED; else echo UNREACHABLE; fi";

        var (offline, offlineLog) = await jobs.RunAsync(script);
        var (online, onlineLog) = await jobs.RunAsync(script, network: true);

        Assert.True(offline.Outcome == "succeeded", offlineLog);
        Assert.Contains("UNREACHABLE", offlineLog, StringComparison.Ordinal);
        Assert.True(online.Outcome == "succeeded", onlineLog);
        Assert.Contains("REACHED", onlineLog.Replace("UNREACHABLE", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_in_an_environment_sees_neither_the_hosts_root_home_nor_the_workers_files_and_is_root_only_of_its_own_namespace()
    {
        await using var jobs = await EnvironmentJobs.CreateAsync(server, "iso-files");
        var marker = $"/root/kiln-isolation-marker-{Guid.NewGuid():N}";
        await File.WriteAllTextAsync(marker, "host secret");
        var workerSecret = Path.Combine(jobs.WorkDirectory, "worker-secret");
        await File.WriteAllTextAsync(workerSecret, "worker token");
        try
        {
            var (attempt, log) = await jobs.RunAsync($"""
                if [ -e {marker} ]; then echo "host root: SEEN"; else echo "host root: hidden"; fi
                if [ -e {workerSecret} ]; then echo "worker file: SEEN"; else echo "worker file: hidden"; fi
                if [ -e {jobs.WorkDirectory}/environments ]; then echo "worker dir: SEEN"; else echo "worker dir: hidden"; fi
                echo "cwd: $(pwd) uid: $(id -u)"
                echo "uid map: $(cat /proc/self/uid_map | tr -s ' ')"
                if echo x > /proc/sys/kernel/hostname 2>/dev/null; then echo "host sysctl: WRITTEN"; else echo "host sysctl: refused"; fi
                unshare -n true && echo "unshare -n: ok"
                echo made > product.txt
                """);

            Assert.True(attempt.Outcome == "succeeded", log);
            Assert.Contains("host root: hidden", log, StringComparison.Ordinal);
            Assert.Contains("worker file: hidden", log, StringComparison.Ordinal);
            Assert.Contains("worker dir: hidden", log, StringComparison.Ordinal);
            Assert.Contains("cwd: /kiln/work uid: 0", log, StringComparison.Ordinal);
            Assert.Matches("uid map: +0 +100000 +65536", log);
            Assert.Contains("host sysctl: refused", log, StringComparison.Ordinal);
            Assert.Contains("unshare -n: ok", log, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task A_fork_bomb_in_an_environment_is_held_to_its_process_limit_and_nothing_of_it_survives_the_job()
    {
        await using var jobs = await EnvironmentJobs.CreateAsync(server, "iso-fork");
        var (attempt, log) = await jobs.RunAsync("""
            bomb() { bomb | bomb & }
            bomb 2>/dev/null
            # Builtins only from here: a fork of this shell could be refused too, and bash gives up the script then.
            end=$((SECONDS + 3)); while [ "$SECONDS" -lt "$end" ]; do :; done
            n=0; for p in /proc/[0-9]*; do n=$((n+1)); done
            echo "processes: $n"
            exit 1
            """, limits: new JobLimits(512 * MiB, 64, 256 * MiB));

        Assert.Equal("failed", attempt.Outcome);
        Assert.True(log.Contains("processes: ", StringComparison.Ordinal), log);
        var counted = int.Parse(log.Split("processes: ")[1].Split('\n')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(counted, 1, 64);
        Assert.Contains("process limit (64, requires.processes)", log, StringComparison.Ordinal);
        Assert.Empty(LeftoverCgroups(jobs));
    }

    [Fact]
    public async Task A_memory_hog_in_an_environment_is_killed_at_its_memory_limit_and_the_job_fails_saying_so()
    {
        await using var jobs = await EnvironmentJobs.CreateAsync(server, "iso-memory");
        // tail keeps a line without newline whole: it grows until the kernel stops it.
        var (attempt, log) = await jobs.RunAsync("head -c 2G /dev/zero | tail > /dev/null; echo survived", limits: new JobLimits(96 * MiB, 256, 256 * MiB));

        Assert.Equal("failed", attempt.Outcome);
        Assert.DoesNotContain("survived", log, StringComparison.Ordinal);
        Assert.Contains("memory limit", attempt.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_disk_hog_in_an_environment_has_its_writes_refused_at_its_disk_limit()
    {
        await using var jobs = await EnvironmentJobs.CreateAsync(server, "iso-disk");
        var (attempt, log) = await jobs.RunAsync("head -c 300M /dev/zero > big; echo wrote-it-all", limits: new JobLimits(512 * MiB, 256, 96 * MiB));

        Assert.Equal("failed", attempt.Outcome);
        Assert.DoesNotContain("wrote-it-all", log, StringComparison.Ordinal);
        Assert.Contains("No space left on device", log, StringComparison.Ordinal);
        Assert.Contains("requires.disk", attempt.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cancelled_job_in_an_environment_leaves_no_process_behind_even_one_that_left_its_process_group()
    {
        await using var jobs = await EnvironmentJobs.CreateAsync(server, "iso-cancel");
        var token = $"kiln-orphan-{Guid.NewGuid():N}";
        var (attempt, log) = await jobs.RunAsync($"""
            setsid bash -c 'exec -a {token} sleep 300' &
            echo started
            sleep 300
            """, whileRunning: async run =>
        {
            for (var i = 0; i < 600 && ProcessesNamed(token).Count == 0; i++)
            {
                await Task.Delay(100);
            }
            Assert.NotEmpty(ProcessesNamed(token));
            run.Stop(Kiln.Worker.StopReason.Cancelled);
        });

        Assert.Contains("[kiln] result: cancelled", log, StringComparison.Ordinal);
        Assert.Empty(ProcessesNamed(token));
        Assert.Empty(LeftoverCgroups(jobs));
    }

    private static List<int> ProcessesNamed(string name) =>
        [.. Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(p => int.TryParse(p, out _))
            .Where(p =>
            {
                try
                {
                    return File.ReadAllText($"/proc/{p}/cmdline").Contains(name, StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
            })
            .Select(p => int.Parse(p!, System.Globalization.CultureInfo.InvariantCulture))];

    private static string[] LeftoverCgroups(EnvironmentJobs jobs)
    {
        var group = Kiln.Worker.Isolation.JobCgroup.WorkerGroup(jobs.WorkDirectory);
        return [.. new[] { "memory", "pids" }.Select(c => Path.Combine("/sys/fs/cgroup", c, group)).Where(Directory.Exists).SelectMany(Directory.GetDirectories)];
    }
}
