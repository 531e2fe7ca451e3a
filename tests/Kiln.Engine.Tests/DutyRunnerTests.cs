using Kiln.Server.Duties;
using Kiln.Server.Hosting;
using Kiln.Store.Database;
using Kiln.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class DutyRunnerTests
{
    [Fact]
    public async Task A_duty_failing_with_an_unexpected_exception_is_backed_off_and_the_runner_and_other_duties_carry_on()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("duties"));
        var leader = new LeaderLease(db, new LeadershipOptions(), TimeProvider.System, NullLogger<LeaderLease>.Instance);
        var flaky = new CountingDuty(failFirst: 3);
        var steady = new CountingDuty(failFirst: 0);
        var runner = new DutyRunner(leader, [flaky, steady], new KilnServerOptions { DutyInterval = TimeSpan.FromMilliseconds(20) },
            TimeProvider.System, NullLogger<DutyRunner>.Instance);

        await runner.StartAsync(default);
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (flaky.Succeeded < 2 && !deadline.IsCancellationRequested && !runner.ExecuteTask!.IsCompleted)
            {
                await Task.Delay(20);
            }
        }

        Assert.False(runner.ExecuteTask!.IsCompleted, $"the duty loop ended: {runner.ExecuteTask.Exception}");
        Assert.Equal(3, flaky.Failed);
        Assert.True(flaky.Succeeded >= 2, $"the failing duty ran {flaky.Succeeded} time(s) after its failures");
        // Backed off meanwhile: the steady duty ran on every tick, the failing one far less often.
        Assert.True(steady.Succeeded > flaky.Failed + flaky.Succeeded, $"steady {steady.Succeeded}, flaky {flaky.Failed}+{flaky.Succeeded}");
        await runner.StopAsync(default);
    }

    private sealed class CountingDuty(int failFirst) : ILeaderDuty
    {
        public int Failed;
        public int Succeeded;

        public string Name => "counting";

        public Task RunAsync(LeaderLease leader, CancellationToken ct)
        {
            if (Failed < failFirst)
            {
                Failed++;
                // Not a database error: the kind the old loop did not list, which stopped the host.
                throw new ArgumentException("a bug in a duty");
            }
            Succeeded++;
            return Task.CompletedTask;
        }
    }
}
