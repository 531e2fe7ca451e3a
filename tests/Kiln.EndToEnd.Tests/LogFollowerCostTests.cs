using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// Following a log costs the database about one query a second per followed work request, however
/// many follow it: followers share the state check, and new output wakes them without a query.
/// Statements are counted from Npgsql's own trace of this server's database.
/// </summary>
/// <remarks>On a 60 s lease: this test is about followers of a running attempt, which a 3 s lease could end while they wait.</remarks>
public sealed class LogFollowerCostTests(LongLeaseServerFixture server) : IClassFixture<LongLeaseServerFixture>
{

    private const int Followers = 20;
    private const int WaitSeconds = 3;

    [Fact]
    public async Task Twenty_followers_of_one_log_cost_fewer_queries_than_followers()
    {
        var (worker, task) = await server.ClaimOneAsync("followers");
        var database = new NpgsqlConnectionStringBuilder(server.ConnectionString).Database!;
        var statements = new ConcurrentQueue<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                var text = activity.DisplayName + " " + string.Join(' ', activity.TagObjects.Select(t => t.Value?.ToString()));
                // The read path's statements (state, lease), not the server's background duties.
                if (text.Contains(database, StringComparison.Ordinal)
                    && (text.Contains("SELECT state, attempt FROM work_requests", StringComparison.Ordinal) || text.Contains("SELECT lease_token FROM attempts", StringComparison.Ordinal)))
                {
                    statements.Enqueue(text);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        // The attempt runs and writes nothing: every follower waits its whole time, re-checking the state.
        var reads = Enumerable.Range(0, Followers)
            .Select(_ => worker.ReadLogAsync(task.WorkRequestId, task.Attempt, 0, WaitSeconds, Stream.Null, CancellationToken.None))
            .ToList();
        var results = await Task.WhenAll(reads);

        Assert.All(results, r => Assert.False(r.Complete));
        // Unshared, each follower queries at least once per second of its wait (60+ in all); shared, a handful.
        Assert.NotEmpty(statements);
        Assert.True(statements.Count < Followers, $"{statements.Count} statements for {Followers} followers:\n{string.Join('\n', statements.Take(10))}");
    }
}
