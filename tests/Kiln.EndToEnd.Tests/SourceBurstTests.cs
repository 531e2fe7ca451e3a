using Kiln.Contracts;
using Kiln.Store.Events;
using Npgsql;

namespace Kiln.EndToEnd.Tests;

/// <summary>The storm guard of a source as a whole, as an operator sets it on the server (KILN_SOURCE_BURST / --source-burst).</summary>
public sealed class SourceBurstTests
{
    [Fact]
    public async Task Beyond_the_servers_source_burst_triggered_workflows_are_created_held_whatever_the_rules_own_limit()
    {
        await using var farm = await Farm.StartAsync(nameof(SourceBurstTests));
        await farm.Client.SubmitAsync(new WorkflowDocument { Project = "burst", Jobs = new() { ["first"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "nobody" } } } }, CancellationToken.None);
        await farm.Client.SetTriggersAsync("burst", new TriggerSetRequest
        {
            Text = "rules: [...]\n",
            // the rule alone would allow 100
            Rules = [new TriggerRuleDocument { Name = "tagged", Source = EventSources.Koji, Workflow = "w.yaml", Burst = new BurstDocument { Limit = 100, Window = "10m" } }],
            Workflows = new() { ["w.yaml"] = new WorkflowDocument { Jobs = new() { ["build"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "nobody" } } } } },
        }, CancellationToken.None);
        farm.Server!.KillHard();
        await farm.Server.WaitForExitAsync(Farm.Patience);
        await farm.StartServerAsync(new Dictionary<string, string> { ["KILN_SOURCE_BURST"] = "2/10m" });

        await using var db = NpgsqlDataSource.Create(farm.ConnectionString);
        var events = new EventStore(db, TimeProvider.System);
        var ids = new List<long>();
        foreach (var package in new[] { "bash", "coreutils", "sed" })
        {
            ids.Add((await events.InsertAsync(new NewEvent(
                EventSources.Koji, "msg-" + package, EventTypes.KojiTag, EventStates.Received,
                new EventFacts { Package = package, Version = "1", Release = "1", KojiTag = "eln" }, new Dictionary<string, string>(), null, [], null), CancellationToken.None)).EventId);
        }
        await Eventually.TrueAsync(async () => (await farm.Client.GetEventAsync(ids[^1], CancellationToken.None)).State == EventStates.Processed,
            Farm.Patience, "the three events to be processed");

        var kinds = new List<string>();
        foreach (var id in ids)
        {
            kinds.Add((await farm.Client.GetEventAsync(id, CancellationToken.None)).Effects.Single().Kind);
        }
        Assert.Equal([EventEffectKinds.Created, EventEffectKinds.Created, EventEffectKinds.Held], kinds);
    }

    [Theory]
    [InlineData("500")]
    [InlineData("0/10m")]
    [InlineData("50/10x")]
    public async Task A_bad_source_burst_stops_the_server_with_one_line_naming_it(string value)
    {
        var (exit, stdout, stderr) = await KilnProcess.RunSplitAsync(["server", "--source-burst", value]);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.StartsWith("kiln server: --source-burst must be LIMIT/WINDOW", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }
}
