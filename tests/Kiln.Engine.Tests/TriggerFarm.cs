using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Server.Events;
using Kiln.Store.Events;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// What the trigger tests share: a real server, rules set through the API, events stored as the
/// intake stores them (EventStore.InsertAsync), and the processor drained to the end.
/// </summary>
public sealed class TriggerFarm(ServerFixture server)
{
    public HttpClient Client => server.Client;

    public EventStore Events => server.Host.Services.GetRequiredService<EventStore>();

    /// <summary>A workflow taking one parameter, <c>package</c>.</summary>
    public static WorkflowDocument Build => new()
    {
        Name = "rebuild",
        Parameters = new() { ["package"] = new ParameterDocument { Default = "none" } },
        Jobs = new() { ["build"] = new JobDocument { Run = "echo ${{ params.package }}" } },
    };

    public async Task ProjectAsync(string project)
    {
        var response = await Client.PutAsJsonAsync($"api/v1/projects/{project}", new ProjectSettings(null, null, null), KilnClient.Json);
        response.EnsureSuccessStatusCode();
    }

    public Task<HttpResponseMessage> SetAsync(string project, params TriggerRuleDocument[] rules) =>
        Client.PutAsJsonAsync($"api/v1/projects/{project}/triggers/", new TriggerSetRequest
        {
            Text = "# rules\n",
            Rules = [.. rules],
            Workflows = rules.Where(r => r.Workflow is not null).Select(r => r.Workflow!).Distinct().ToDictionary(w => w, _ => Build),
        }, KilnClient.Json);

    public async Task<TriggerSetView> SetOkAsync(string project, params TriggerRuleDocument[] rules)
    {
        var response = await SetAsync(project, rules);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<TriggerSetView>(KilnClient.Json))!;
    }

    public static NewEvent KojiTag(string package, string version, string release, string tag = "eln", string? messageId = null) => new(
        EventSources.Koji, messageId ?? Guid.NewGuid().ToString(), EventTypes.KojiTag, EventStates.Received,
        new EventFacts { Package = package, Version = version, Release = release, KojiTag = tag, Instance = "primary" },
        new Dictionary<string, string>(), null, [], "127.0.0.1");

    public async Task<long> InsertAsync(NewEvent e) => (await Events.InsertAsync(e, default)).EventId;

    /// <summary>Runs the processor until nothing it may take is left (the duty may be running it too: they take turns).</summary>
    public Task DrainAsync() => server.Host.Services.GetRequiredService<EventProcessor>().DrainAsync(() => true, default);

    public async Task<EventView> EventAsync(long id) =>
        (await Client.GetFromJsonAsync<EventView>($"api/v1/events/{id}", KilnClient.Json))!;

    public async Task<EventView> ProcessedAsync(long id)
    {
        await DrainAsync();
        var view = await EventAsync(id);
        Assert.Equal(EventStates.Processed, view.State);
        return view;
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        await using var cmd = db.CreateCommand(sql);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    public async Task<string?> ScalarTextAsync(string sql)
    {
        await using var db = Npgsql.NpgsqlDataSource.Create(server.ConnectionString);
        await using var cmd = db.CreateCommand(sql);
        return (string?)await cmd.ExecuteScalarAsync();
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        await using var cmd = db.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    public static TriggerRuleDocument KojiRule(string name, string packages, int? burst = null) => new()
    {
        Name = name,
        Source = EventSources.Koji,
        KojiTags = ["eln"],
        Packages = [packages],
        Workflow = "rebuild.yaml",
        Params = new() { ["package"] = "${{ event.nvr }}" },
        Burst = burst is { } b ? new BurstDocument { Limit = b, Window = "10m" } : null,
    };

    public async Task PauseAsync(EventPauseRequest target, bool paused = true)
    {
        var response = await Client.PostAsJsonAsync(paused ? "api/v1/events/pause" : "api/v1/events/resume", target, KilnClient.Json);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}
