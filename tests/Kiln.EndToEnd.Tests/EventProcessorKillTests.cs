using Kiln.Contracts;
using Kiln.Server.Events;
using Kiln.Store.Events;
using Npgsql;

namespace Kiln.EndToEnd.Tests;

/// <summary>A server killed (SIGKILL) after a triggered workflow is stored and before its event is marked processes the event once after restart.</summary>
public sealed class EventProcessorKillTests
{
    [Fact]
    public async Task A_server_killed_between_submitting_an_events_workflow_and_marking_the_event_processes_it_exactly_once_after_restart()
    {
        await using var farm = await Farm.StartAsync(nameof(EventProcessorKillTests));
        // The project is made by its first submission (the caller becomes its owner); its rule waits on a queue nobody serves.
        await farm.Client.SubmitAsync(new WorkflowDocument { Project = "kill", Jobs = new() { ["first"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "nobody" } } } }, CancellationToken.None);
        await farm.Client.SetTriggersAsync("kill", new TriggerSetRequest
        {
            Text = "rules: [...]\n",
            Rules = [new TriggerRuleDocument { Name = "tagged", Source = EventSources.Koji, Workflow = "w.yaml" }],
            Workflows = new() { ["w.yaml"] = new WorkflowDocument { Jobs = new() { ["build"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "nobody" } } } } },
        }, CancellationToken.None);
        farm.Server!.KillHard();
        await farm.Server.WaitForExitAsync(Farm.Patience);
        await farm.StartServerAsync(new Dictionary<string, string> { [EventProcessor.FaultVariable] = "kill" });

        await using var db = NpgsqlDataSource.Create(farm.ConnectionString);
        var stored = await new EventStore(db, TimeProvider.System).InsertAsync(new NewEvent(
            EventSources.Koji, "msg-1", EventTypes.KojiTag, EventStates.Received,
            new EventFacts { Package = "bash", Version = "5.2", Release = "1", KojiTag = "eln" }, new Dictionary<string, string>(), null, [], null), CancellationToken.None);

        // The fault: the server kills itself once the workflow is committed, before the event is marked.
        await farm.Server.WaitForExitAsync(Farm.Patience);
        Assert.Equal(1L, await ScalarAsync(db, $"SELECT count(*) FROM workflows WHERE event_id = {stored.EventId}"));
        Assert.Equal(EventStates.Received, await ScalarAsync(db, $"SELECT state FROM events WHERE id = {stored.EventId}"));

        await farm.StartServerAsync();
        await Eventually.TrueAsync(async () => (await farm.Client.GetEventAsync(stored.EventId, CancellationToken.None)).State == EventStates.Processed,
            Farm.Patience, "the event to be processed after the restart");

        var view = await farm.Client.GetEventAsync(stored.EventId, CancellationToken.None);
        var effect = Assert.Single(view.Effects);
        Assert.Equal(EventEffectKinds.Created, effect.Kind);
        Assert.Contains("earlier try", effect.Message, StringComparison.Ordinal);
        Assert.Equal(1L, await ScalarAsync(db, $"SELECT count(*) FROM workflows WHERE rule_id IS NOT NULL"));
        Assert.Equal(effect.WorkflowId, await ScalarAsync(db, $"SELECT id FROM workflows WHERE event_id = {stored.EventId}"));
    }

    private static async Task<object?> ScalarAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return await cmd.ExecuteScalarAsync();
    }
}
