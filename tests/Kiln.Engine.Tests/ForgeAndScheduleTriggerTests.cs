using Kiln.Contracts;
using Kiln.Server.Events;
using Kiln.Store.Events;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Kiln.Engine.Tests;

/// <summary>Forge events through the projects of the links that verified them; schedule slots as events.</summary>
public sealed class ForgeAndScheduleTriggerTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private readonly TriggerFarm farm = new(server);

    private static readonly TriggerRuleDocument MainPush = new()
    {
        Name = "main", Source = "forge", Types = [EventTypes.Push], Branches = ["main"], Workflow = "rebuild.yaml",
        Params = new() { ["package"] = "${{ event.repository }}@${{ event.sha }}" },
    };

    private async Task<long> LinkAsync(string project, string repository)
    {
        await farm.ExecuteAsync($"""
            INSERT INTO repository_links (project_id, forge, repository, secret_sealed, secret_key_id, created_at)
            SELECT id, 'github', '{repository}', '\x00', 'test', now() FROM projects WHERE name = '{project}'
            """);
        return await farm.ScalarAsync($"SELECT id FROM repository_links WHERE repository = '{repository}'");
    }

    private static NewEvent Push(long link, string delivery, string repository, string branch, string sha) => new(
        EventSources.GitHub, delivery, EventTypes.Push, EventStates.Received,
        new EventFacts { Repository = repository, Ref = $"refs/heads/{branch}", Branch = branch, Sha = sha },
        new Dictionary<string, string>(), null, [link], "127.0.0.1");

    [Fact]
    public async Task The_same_push_through_two_hooks_makes_one_workflow_and_another_branch_says_why_it_did_not_match()
    {
        await farm.ProjectAsync("forge");
        await farm.SetOkAsync("forge", MainPush);
        var link = await LinkAsync("forge", "org/forge");

        var org = await farm.ProcessedAsync(await farm.InsertAsync(Push(link, "delivery-org", "org/forge", "main", "abc123")));
        var repo = await farm.ProcessedAsync(await farm.InsertAsync(Push(link, "delivery-repo", "org/forge", "main", "abc123")));
        var dev = await farm.ProcessedAsync(await farm.InsertAsync(Push(link, "delivery-dev", "org/forge", "dev", "def456")));

        Assert.Equal(EventEffectKinds.Created, org.Effects.Single().Kind);
        Assert.Equal(EventEffectKinds.Unchanged, repo.Effects.Single().Kind);
        Assert.Equal(org.Effects.Single().WorkflowId, repo.Effects.Single().WorkflowId);
        Assert.Contains("branch 'dev' matches none of main", dev.Effects.Single().Message, StringComparison.Ordinal);
        Assert.Equal(1, await farm.ScalarAsync("SELECT count(*) FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = 'forge' AND w.rule_id IS NOT NULL"));
    }

    [Fact]
    public async Task A_paused_link_keeps_its_pushes_and_its_resume_builds_each_once()
    {
        await farm.ProjectAsync("linked");
        await farm.SetOkAsync("linked", MainPush);
        var link = await LinkAsync("linked", "org/linked");
        await farm.PauseAsync(new EventPauseRequest(Link: link));

        var first = await farm.ProcessedAsync(await farm.InsertAsync(Push(link, "l-1", "org/linked", "main", "111")));
        var second = await farm.ProcessedAsync(await farm.InsertAsync(Push(link, "l-2", "org/linked", "main", "222")));
        Assert.Equal(EventEffectKinds.Paused, first.Effects.Single().Kind);
        Assert.Equal(0, await farm.ScalarAsync("SELECT count(*) FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = 'linked' AND w.rule_id IS NOT NULL"));

        await farm.PauseAsync(new EventPauseRequest(Link: link), paused: false);
        await farm.DrainAsync();
        await farm.DrainAsync();

        Assert.Equal([EventEffectKinds.Paused, EventEffectKinds.Created], (await farm.EventAsync(first.Id)).Effects.Select(e => e.Kind));
        Assert.Equal([EventEffectKinds.Paused, EventEffectKinds.Created], (await farm.EventAsync(second.Id)).Effects.Select(e => e.Kind));
        Assert.Equal(2, await farm.ScalarAsync("SELECT count(*) FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = 'linked' AND w.rule_id IS NOT NULL"));
    }

    [Fact]
    public async Task A_schedule_rule_makes_one_event_per_slot_and_slots_missed_while_down_make_one()
    {
        await farm.ProjectAsync("nightly");
        await farm.SetOkAsync("nightly", new TriggerRuleDocument { Name = "every-minute", Source = EventSources.Schedule, Schedule = "* * * * *", Workflow = "rebuild.yaml" });
        var services = server.Host.Services;
        var start = DateTimeOffset.UtcNow;
        var clock = new FakeTimeProvider(start.AddMinutes(2));
        var duty = new ScheduleDuty(services.GetRequiredService<TriggerStore>(), services.GetRequiredService<EventStore>(), clock, NullLogger<ScheduleDuty>.Instance);
        // Only the slots of the fake clock: the server's own duty may take a real minute's slot meanwhile.
        var count = $"SELECT count(*) FROM events WHERE source = 'schedule' AND facts ->> 'project' = 'nightly' AND (facts ->> 'slot')::timestamptz > '{start.AddSeconds(61):O}'";

        await duty.RunOnceAsync(() => true, default);
        await duty.RunOnceAsync(() => true, default);
        Assert.Equal(1, await farm.ScalarAsync(count));

        clock.Advance(TimeSpan.FromMinutes(5));
        await duty.RunOnceAsync(() => true, default);
        Assert.Equal(2, await farm.ScalarAsync(count));

        await farm.DrainAsync();
        Assert.Equal(2, await farm.ScalarAsync($"SELECT count(*) FROM workflows w JOIN events e ON e.id = w.event_id WHERE e.id IN (SELECT id FROM events WHERE {count[(count.IndexOf("WHERE", StringComparison.Ordinal) + 6)..]})"));
    }
}
