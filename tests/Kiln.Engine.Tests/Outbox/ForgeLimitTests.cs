using System.Diagnostics;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Engine.Tests.Hooks;
using Kiln.Server.Hosting;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests.Outbox;

/// <summary>A server whose outbox writes without spacing, retries after about a second and gives a write one second.</summary>
public sealed class ForgeLimitServerFixture : ServerFixture
{
    public override KilnServerOptions Options(string connectionString) => base.Options(connectionString) with
    {
        StatusSpacing = TimeSpan.Zero,
        StatusRetryBase = TimeSpan.FromSeconds(1),
        StatusTimeout = TimeSpan.FromSeconds(1),
        // A claimed job stays running while a test waits out a pause.
        Lease = TimeSpan.FromSeconds(30),
    };
}

/// <summary>A server whose outbox keeps 300 ms between two writes of one channel.</summary>
public sealed class SpacedServerFixture : ServerFixture
{
    public override KilnServerOptions Options(string connectionString) => base.Options(connectionString) with
    {
        StatusSpacing = TimeSpan.FromMilliseconds(300),
        StatusRetryBase = TimeSpan.FromSeconds(1),
        Lease = TimeSpan.FromSeconds(30),
    };
}

/// <summary>
/// GitLab and Forgejo commit statuses through a token link, and the forge's limits obeyed rather than
/// discovered: a secondary limit's retry-after pauses only that channel, 5xx and hangs are retried
/// until the state converges, a refused repository fails its target after one attempt.
/// </summary>
public sealed class ForgeLimitTests(ForgeLimitServerFixture server) : IClassFixture<ForgeLimitServerFixture>
{
    [Theory]
    [InlineData("gitlab")]
    [InlineData("forgejo")]
    public async Task A_push_reports_pending_running_success_each_once_with_the_final_state_last(string kind)
    {
        await using var forge = await FakeForge.StartAsync();
        var (project, repo) = await ForgeLimitFarm.LinkedAsync(server, forge, kind);
        using var worker = await server.RegisterWorkerAsync(HookFarm.Unique("limw"));

        await forge.PushAsync(repo, "main", new string('a', 40));
        await ForgeLimitFarm.UntilAsync(() => forge.StatusWrites.Count > 0);
        var job = await ForgeLimitFarm.ClaimAsync(worker, repo);
        // Forgejo has no running state: a running workflow is pending with another description.
        await ForgeLimitFarm.UntilAsync(() => forge.StatusWrites.Count >= 2);
        await ForgeLimitFarm.CompleteAsync(worker, job);
        await ForgeLimitFarm.UntilAsync(() => forge.StatusWrites.Any(w => w.State == "success"));

        var writes = forge.StatusWrites;
        Assert.All(writes, w => Assert.Equal(repo.FullName, w.Repository));
        Assert.All(writes, w => Assert.Equal(new string('a', 40), w.Sha));
        var states = writes.Select(w => w.State).ToList();
        Assert.Equal(kind == "gitlab" ? ["pending", "running", "success"] : ["pending", "pending", "success"], states);
        Assert.Equal(3, writes.Select(w => w.Description).Distinct().Count());
        Assert.All(writes, w => Assert.Equal(writes[0].Context, w.Context));
        Assert.All(forge.StatusFaults.Attempts, a => Assert.Equal(201, a.Code));
    }

    [Fact]
    public async Task A_secondary_limit_is_answered_once_then_the_channel_waits_out_retry_after_while_another_channel_writes()
    {
        await using var forge = await FakeForge.StartAsync();
        await using var other = await FakeForge.StartAsync();
        var (project, repo) = await ForgeLimitFarm.LinkedAsync(server, forge, "gitlab");
        var (_, otherRepo, _) = await ForgeLimitFarm.LinkedWithAsync(server, other, "gitlab", watch: false);
        using var worker = await server.RegisterWorkerAsync(HookFarm.Unique("limw"));
        forge.StatusFaults.Latency = TimeSpan.FromMilliseconds(300);

        await forge.PushAsync(repo, "main", new string('b', 40));
        await ForgeLimitFarm.UntilAsync(() => forge.StatusWrites.Count > 0);
        var until = DateTimeOffset.UtcNow.AddSeconds(3);
        forge.StatusFaults.SecondaryLimitUntil = until;
        await ForgeLimitFarm.CompleteAsync(worker, await ForgeLimitFarm.ClaimAsync(worker, repo));
        await ForgeLimitFarm.UntilAsync(() => forge.StatusFaults.Attempts.Any(a => a.Code == 403));

        // The other repository's channel is not held by this one's pause.
        await other.PushAsync(otherRepo, "main", new string('c', 40));
        await ForgeLimitFarm.CompleteAsync(worker, await ForgeLimitFarm.ClaimAsync(worker, otherRepo));
        await ForgeLimitFarm.UntilAsync(() => other.StatusWrites.Any(w => w.State == "success"));
        var limited = forge.StatusFaults.Attempts.Single(a => a.Code == 403);
        Assert.All(other.StatusFaults.Attempts, a => Assert.InRange(a.At, limited.At, until));

        await ForgeLimitFarm.UntilAsync(() => forge.StatusWrites.Any(w => w.State == "success"));
        var attempts = forge.StatusFaults.Attempts;
        Assert.Single(attempts, a => a.Code == 403);
        var after = attempts.SkipWhile(a => a.Code != 403).Skip(1).ToList();
        Assert.NotEmpty(after);
        // retry-after was the remaining time rounded up: nothing reached the forge before the limit ran out.
        Assert.All(after, a => Assert.True(a.At >= until.AddMilliseconds(-5), $"attempt at {a.At:O} before the limit ran out at {until:O}"));
        Assert.Equal("success", forge.StatusWrites[^1].State);
    }

    [Fact]
    public async Task Answers_of_502_are_retried_and_the_state_converges()
    {
        await using var forge = await FakeForge.StartAsync();
        var (_, repo) = await ForgeLimitFarm.LinkedAsync(server, forge, "forgejo");
        using var worker = await server.RegisterWorkerAsync(HookFarm.Unique("limw"));
        forge.StatusFaults.FailNext(2, 502);

        await forge.PushAsync(repo, "main", new string('d', 40));
        await ForgeLimitFarm.CompleteAsync(worker, await ForgeLimitFarm.ClaimAsync(worker, repo));
        await ForgeLimitFarm.UntilAsync(() => forge.StatusWrites.Any(w => w.State == "success"));

        var codes = forge.StatusFaults.Attempts.Select(a => a.Code).ToList();
        Assert.Equal([502, 502], codes.Take(2).ToList());
        Assert.All(codes.Skip(2), c => Assert.Equal(201, c));
        Assert.Equal("success", forge.StatusWrites[^1].State);
    }

    [Fact]
    public async Task A_hanging_forge_times_out_is_retried_and_the_state_converges_once_it_answers()
    {
        await using var forge = await FakeForge.StartAsync();
        var (_, repo) = await ForgeLimitFarm.LinkedAsync(server, forge, "gitlab");
        using var worker = await server.RegisterWorkerAsync(HookFarm.Unique("limw"));
        forge.StatusFaults.Hang = true;

        await forge.PushAsync(repo, "main", new string('e', 40));
        // StatusTimeout is one second: the write is given up, and tried again after the backoff.
        await ForgeLimitFarm.UntilAsync(() => forge.StatusFaults.Attempts.Count(a => a.Code == 0) >= 2);
        Assert.Empty(forge.StatusWrites);
        forge.StatusFaults.Hang = false;
        await ForgeLimitFarm.CompleteAsync(worker, await ForgeLimitFarm.ClaimAsync(worker, repo));
        await ForgeLimitFarm.UntilAsync(() => forge.StatusWrites.Any(w => w.State == "success"));
        Assert.Equal("success", forge.StatusWrites[^1].State);
    }

    [Fact]
    public async Task A_refused_repository_fails_its_target_after_one_attempt()
    {
        await using var forge = await FakeForge.StartAsync();
        var (_, repo, link) = await ForgeLimitFarm.LinkedWithAsync(server, forge, "forgejo");
        forge.StatusFaults.RefuseRepository(repo.FullName, 404);

        await forge.PushAsync(repo, "main", new string('f', 40));
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        (string? Failed, int? Code) target = (null, null);
        await ForgeLimitFarm.UntilAsync(async () =>
        {
            await using var command = db.CreateCommand("SELECT failed, last_code FROM status_targets WHERE link_id = $1");
            command.Parameters.AddWithValue(link.Id);
            await using var reader = await command.ExecuteReaderAsync();
            if (!await reader.ReadAsync())
            {
                return false;
            }
            target = (reader.IsDBNull(0) ? null : reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt32(1));
            return target.Failed is not null;
        });
        Assert.Equal(404, target.Code);
        await Task.Delay(1500);
        Assert.Equal(404, Assert.Single(forge.StatusFaults.Attempts).Code);
        Assert.Empty(forge.StatusWrites);
    }
}

/// <summary>Spacing: two writes of one channel are never closer than StatusSpacing.</summary>
public sealed class ForgeSpacingTests(SpacedServerFixture server) : IClassFixture<SpacedServerFixture>
{
    [Fact]
    public async Task Consecutive_writes_of_one_channel_are_at_least_the_spacing_apart()
    {
        await using var forge = await FakeForge.StartAsync();
        var (_, repo) = await ForgeLimitFarm.LinkedAsync(server, forge, "gitlab");
        using var worker = await server.RegisterWorkerAsync(HookFarm.Unique("spw"));

        await forge.PushAsync(repo, "main", new string('1', 40));
        var job = await ForgeLimitFarm.ClaimAsync(worker, repo);
        await ForgeLimitFarm.CompleteAsync(worker, job);
        await ForgeLimitFarm.UntilAsync(() => forge.StatusWrites.Any(w => w.State == "success"));

        var attempts = forge.StatusFaults.Attempts;
        Assert.True(attempts.Count >= 2, $"{attempts.Count} attempt(s)");
        foreach (var (a, b) in attempts.Zip(attempts.Skip(1)))
        {
            Assert.True(b.At - a.At >= TimeSpan.FromMilliseconds(295), $"writes {(b.At - a.At).TotalMilliseconds} ms apart");
        }
    }
}

internal static class ForgeLimitFarm
{
    private static readonly TriggerRuleDocument MainPush = new()
    {
        Name = "main", Source = "forge", Types = [EventTypes.Push], Branches = ["main"], Workflow = "rebuild.yaml",
        Params = new() { ["package"] = "${{ event.repository }}@${{ event.sha }}" },
    };

    public static async Task<(string Project, FakeRepository Repository)> LinkedAsync(ServerFixture server, FakeForge forge, string kind)
    {
        var (project, repo, _) = await LinkedWithAsync(server, forge, kind);
        return (project, repo);
    }

    /// <summary>A project linked with the forge's API URL and token, whose rule makes a workflow of a push to main.</summary>
    public static async Task<(string Project, FakeRepository Repository, RepositoryLinkView Link)> LinkedWithAsync(ServerFixture server, FakeForge forge, string kind, bool watch = true)
    {
        if (watch)
        {
            Watched = forge;
            Database = server.ConnectionString;
        }
        var (project, repo, link, _) = await new HookFarm(server, forge).LinkedAsync(kind, api: true);
        await new TriggerFarm(server).SetOkAsync(project, MainPush);
        return (project, repo, link);
    }

    /// <summary>Claims the job of the workflow made for <paramref name="repo"/>'s push; jobs an earlier test left are completed on the way.</summary>
    public static async Task<Assignment> ClaimAsync(HttpClient worker, FakeRepository repo)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var claim = await PoolSetup.ClaimAsync(worker);
            foreach (var job in claim.Assignments)
            {
                if (job.Run.Contains(repo.FullName + "@", StringComparison.Ordinal))
                {
                    return job;
                }
                await CompleteAsync(worker, job);
            }
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), "no job to claim");
            await Task.Delay(50);
        }
    }

    public static async Task CompleteAsync(HttpClient worker, Assignment job)
    {
        using var done = await worker.PostAsJsonAsync($"/api/v1/work-requests/{job.WorkRequestId}/complete", new CompleteRequest(job.LeaseToken, "succeeded", 0, null));
        done.EnsureSuccessStatusCode();
    }

    /// <summary>What the last forge of a test saw, for the message of a failed wait.</summary>
    public static FakeForge? Watched { get; set; }

    public static string? Database { get; set; }

    private static async Task<string> TargetsAsync()
    {
        if (Database is null)
        {
            return "";
        }
        await using var db = NpgsqlDataSource.Create(Database);
        await using var command = db.CreateCommand("SELECT string_agg(concat_ws(' ', t.id, t.channel, t.kind, t.acknowledged, t.attempts, t.last_code, t.failed, t.done, t.next_attempt_at, w.state, w.unfinished, w.total, c.paused_until, c.last_write_at), ' | ') FROM status_targets t LEFT JOIN workflows w ON w.id = t.workflow_id LEFT JOIN status_channels c ON c.channel = t.channel");
        return (await command.ExecuteScalarAsync())?.ToString() ?? "";
    }

    public static Task UntilAsync(Func<bool> condition) => UntilAsync(() => Task.FromResult(condition()));

    public static async Task UntilAsync(Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), await TargetsAsync() + "; the forge did not see it; it saw "
                + string.Join(", ", Watched?.StatusFaults.Attempts.Select(a => $"{a.At:HH:mm:ss.fff} {a.Code} {a.Path}") ?? [])
                + " and accepted " + string.Join(", ", Watched?.StatusWrites.Select(w => w.State) ?? []));
            await Task.Delay(50);
        }
    }
}
