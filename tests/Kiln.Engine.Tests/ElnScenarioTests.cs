using Kiln.Contracts;
using Kiln.Store.Engine;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Engine.Tests;

/// <summary>
/// The Koji/ELN BuildSync incident end to end (issue 13): re-tagging every build for a new tag
/// after an unpause enqueued a mass rebuild of unchanged packages. Here the re-tags, posted to
/// POST /api/v1/events/koji as a bus bridge would, create nothing; the paused events are kept, and
/// the resume holds the burst instead of enqueueing it.
/// </summary>
public sealed class ElnScenarioTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const int Built = 5000;
    private const int NewBuilds = 200;
    private const int Burst = 50;

    private readonly TriggerFarm farm = new(server);

    [Fact]
    public async Task Retags_of_built_nvrs_create_nothing_and_a_resumed_backlog_creates_each_new_nvr_once_holding_those_beyond_the_burst()
    {
        await farm.ProjectAsync("eln");
        var set = await farm.SetOkAsync("eln", TriggerFarm.KojiRule("eln-rebuild", "*", burst: Burst));
        var rule = set.Rules.Single();
        // The builds already made: the first through the farm itself, the other 4,999 long before (a day back,
        // outside the burst window), stored by SQL with the input key the farm gave the first.
        await PostAllAsync([("pkg1", "1.0", "1.eln")]);
        await farm.DrainAsync();
        var key = await farm.ScalarTextAsync($"SELECT input_key FROM workflows WHERE rule_id = {rule.Id}");
        Assert.Equal($"pkg1-1.0-1.eln#{rule.WorkflowSha256}", key);
        await farm.ExecuteAsync($"""
            INSERT INTO workflows (project_id, name, trigger, state, total, unfinished, document, created_at, rule_id, input_key)
            SELECT p.id, 'rebuild', 'mass-rebuild', 'succeeded', 0, 0, '{"{}"}', now() - interval '1 day', {rule.Id},
                   'pkg' || g || '-1.0-1.eln#{rule.WorkflowSha256}'
            FROM generate_series(2, {Built}) g, projects p WHERE p.name = 'eln'
            """);
        await farm.ExecuteAsync($"UPDATE workflows SET created_at = now() - interval '1 day' WHERE rule_id = {rule.Id}");

        // 1. Every build re-tagged: nothing new.
        await PostAllAsync(Enumerable.Range(1, Built).Select(i => ($"pkg{i}", "1.0", "1.eln")));
        await farm.DrainAsync();
        Assert.Equal(Built, await WorkflowsAsync());
        Assert.Equal(Built, await farm.ScalarAsync("SELECT count(*) FROM events WHERE state = 'processed' AND effects @> '[{\"kind\": \"unchanged\"}]'"));

        // 2. Paused, the next re-tag of everything — 200 of them new builds — is stored and kept.
        await farm.PauseAsync(new EventPauseRequest(Source: EventSources.Koji));
        var retag = Enumerable.Range(0, Built).Select(i => i % (Built / NewBuilds) == 0
            ? ($"pkg{i + 1}", "2.0", "1.eln")
            : ($"pkg{i + 1}", "1.0", "1.eln")).ToList();
        var first = await PostAllAsync(retag);
        await farm.DrainAsync();
        Assert.Equal(Built, await farm.ScalarAsync($"SELECT count(*) FROM events WHERE id >= {first} AND state = 'received' AND effects @> '[{{\"kind\": \"paused\"}}]'"));
        Assert.Equal(Built, await WorkflowsAsync());

        // 3. Resume: exactly one workflow per new NVR; the first 50 may run, the rest are held.
        await farm.PauseAsync(new EventPauseRequest(Source: EventSources.Koji), paused: false);
        await farm.DrainAsync();
        Assert.Equal(0, await farm.ScalarAsync($"SELECT count(*) FROM events WHERE id >= {first} AND state = 'received'"));
        Assert.Equal(Built + NewBuilds, await WorkflowsAsync());
        Assert.Equal(NewBuilds, await farm.ScalarAsync($"SELECT count(DISTINCT input_key) FROM workflows WHERE rule_id = {rule.Id} AND input_key LIKE '%-2.0-1.eln#%'"));
        Assert.Equal(Burst, await farm.ScalarAsync($"SELECT count(*) FROM workflows WHERE rule_id = {rule.Id} AND state = 'running' AND input_key LIKE '%-2.0-1.eln#%'"));
        Assert.Equal(NewBuilds - Burst, await farm.ScalarAsync($"SELECT count(*) FROM workflows WHERE rule_id = {rule.Id} AND state = 'held'"));
        // arrival order: the ones that run came first
        Assert.Equal(0, await farm.ScalarAsync($"""
            SELECT count(*) FROM workflows h, workflows r
            WHERE h.rule_id = {rule.Id} AND r.rule_id = {rule.Id} AND h.state = 'held' AND r.state = 'running' AND r.input_key LIKE '%-2.0-1.eln#%' AND h.event_id < r.event_id
            """));
        Assert.Equal(Built - NewBuilds, await farm.ScalarAsync($"SELECT count(*) FROM events WHERE id >= {first} AND effects @> '[{{\"kind\": \"unchanged\"}}]'"));
        Assert.Equal(NewBuilds - Burst, await farm.ScalarAsync($"SELECT count(*) FROM events WHERE id >= {first} AND effects @> '[{{\"kind\": \"held\"}}]'"));

        // 4. Approved, they run: their jobs become claimable.
        var held = await IdsAsync($"SELECT id FROM workflows WHERE rule_id = {rule.Id} AND state = 'held'");
        var released = await server.Host.Services.GetRequiredService<WorkflowHolds>().ReleaseAsync(held, default);
        Assert.Equal(held.Order(), released.Order());
        Assert.Equal(NewBuilds, await farm.ScalarAsync($"""
            SELECT count(*) FROM work_requests r JOIN workflows w ON w.id = r.workflow_id
            WHERE w.rule_id = {rule.Id} AND w.input_key LIKE '%-2.0-1.eln#%' AND w.state = 'running' AND r.state = 'pending'
            """));
    }

    private Task<long> WorkflowsAsync() => farm.ScalarAsync("SELECT count(*) FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = 'eln'");

    /// <summary>
    /// Posts a Koji tag message per build to POST /api/v1/events/koji, four at a time as a busy bridge would,
    /// each acknowledged 202 (stored, not yet processed); returns the smallest event id.
    /// </summary>
    private async Task<long> PostAllAsync(IEnumerable<(string Name, string Version, string Release)> builds)
    {
        var ids = new System.Collections.Concurrent.ConcurrentBag<long>();
        await Parallel.ForEachAsync(builds, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (b, ct) =>
        {
            var message = KojiEventsApiTests.Message(Guid.NewGuid().ToString(), name: b.Name, version: b.Version, release: b.Release, tag: "eln");
            using var response = await server.Client.PostAsync("/api/v1/events/koji",
                new System.Net.Http.StringContent(message, System.Text.Encoding.UTF8, "application/json"), ct);
            Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
            var accepted = await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<EventAccepted>(response.Content, KilnClient.Json, ct);
            ids.Add(accepted!.EventId);
        });
        return ids.Min();
    }

    private async Task<List<long>> IdsAsync(string sql)
    {
        await using var db = Npgsql.NpgsqlDataSource.Create(server.ConnectionString);
        await using var cmd = db.CreateCommand(sql);
        var ids = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }
}
