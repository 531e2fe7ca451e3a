using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>Rules set through the API; events stored as the intake stores them; what processing made of each.</summary>
public sealed class TriggerProcessingTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private readonly TriggerFarm farm = new(server);

    [Fact]
    public async Task A_matching_tag_event_creates_one_workflow_with_params_from_the_event_and_says_so()
    {
        await farm.ProjectAsync("match");
        await farm.SetOkAsync("match", TriggerFarm.KojiRule("eln", "m-*"));
        var id = await farm.InsertAsync(TriggerFarm.KojiTag("m-bash", "5.2", "1.eln"));

        var view = await farm.ProcessedAsync(id);

        var effect = Assert.Single(view.Effects);
        Assert.Equal(EventEffectKinds.Created, effect.Kind);
        var workflow = (await farm.Client.GetFromJsonAsync<WorkflowView>($"api/v1/workflows/{effect.WorkflowId}", KilnClient.Json))!;
        Assert.Equal(id, workflow.Origin!.EventId);
        Assert.Equal("eln", workflow.Origin.Rule);
        var document = await farm.Client.GetFromJsonAsync<JsonElement>($"api/v1/workflows/{effect.WorkflowId}");
        Assert.Contains("m-bash-5.2-1.eln", document.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_retag_of_an_nvr_already_built_creates_nothing_and_names_the_workflow_that_built_it()
    {
        await farm.ProjectAsync("retag");
        await farm.SetOkAsync("retag", TriggerFarm.KojiRule("eln", "r-*"));
        var first = await farm.ProcessedAsync(await farm.InsertAsync(TriggerFarm.KojiTag("r-zsh", "5.9", "2.eln")));
        var built = first.Effects.Single().WorkflowId;

        var again = await farm.ProcessedAsync(await farm.InsertAsync(TriggerFarm.KojiTag("r-zsh", "5.9", "2.eln")));

        var effect = Assert.Single(again.Effects);
        Assert.Equal(EventEffectKinds.Unchanged, effect.Kind);
        Assert.Equal(built, effect.WorkflowId);
        Assert.Contains($"inputs unchanged since workflow {built}", effect.Message, StringComparison.Ordinal);
        Assert.Equal(1, await farm.ScalarAsync($"SELECT count(*) FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = 'retag'"));
    }

    [Fact]
    public async Task An_event_no_rule_takes_names_the_closest_rule_and_why_not()
    {
        await farm.ProjectAsync("closest");
        await farm.SetOkAsync("closest", TriggerFarm.KojiRule("only-c", "c-*"));
        var view = await farm.ProcessedAsync(await farm.InsertAsync(TriggerFarm.KojiTag("c-vim", "9.1", "1.eln", tag: "f42")));

        var effect = Assert.Single(view.Effects, e => e.Project == "closest");
        Assert.Equal(EventEffectKinds.NoMatch, effect.Kind);
        Assert.Contains("closest rule", effect.Message, StringComparison.Ordinal);
        Assert.Contains("Koji tag 'f42' matches none of eln", effect.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Beyond_a_rules_burst_limit_workflows_are_created_held_and_nothing_is_dropped()
    {
        await farm.ProjectAsync("burst");
        await farm.SetOkAsync("burst", TriggerFarm.KojiRule("storm", "b-*", burst: 2));
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await farm.InsertAsync(TriggerFarm.KojiTag($"b-pkg{i}", "1", "1")));
        }
        await farm.DrainAsync();

        var kinds = new List<string>();
        foreach (var id in ids)
        {
            kinds.Add((await farm.EventAsync(id)).Effects.Single().Kind);
        }
        Assert.Equal([EventEffectKinds.Created, EventEffectKinds.Created, EventEffectKinds.Held, EventEffectKinds.Held, EventEffectKinds.Held], kinds);
        Assert.Equal(3, await farm.ScalarAsync("SELECT count(*) FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = 'burst' AND w.state = 'held'"));
        Assert.Equal(0, await farm.ScalarAsync("""
            SELECT count(*) FROM work_requests r JOIN workflows w ON w.id = r.workflow_id WHERE w.state = 'held' AND r.state <> 'blocked'
            """));
    }

    [Fact]
    public async Task A_paused_rule_keeps_its_events_and_processes_them_once_on_resume()
    {
        await farm.ProjectAsync("pausing");
        await farm.SetOkAsync("pausing", TriggerFarm.KojiRule("later", "p-*"));
        await farm.PauseAsync(new EventPauseRequest(Project: "pausing", Rule: "later"));
        var id = await farm.InsertAsync(TriggerFarm.KojiTag("p-git", "2.47", "1"));
        var paused = await farm.ProcessedAsync(id);
        Assert.Equal(EventEffectKinds.Paused, paused.Effects.Single(e => e.Project == "pausing").Kind);

        await farm.PauseAsync(new EventPauseRequest(Project: "pausing", Rule: "later"), paused: false);
        await farm.DrainAsync();
        await farm.DrainAsync();

        var resumed = await farm.EventAsync(id);
        Assert.Equal([EventEffectKinds.Paused, EventEffectKinds.Created], resumed.Effects.Where(e => e.Project == "pausing").Select(e => e.Kind));
        Assert.Equal(0, await farm.ScalarAsync("SELECT count(*) FROM event_deferrals"));
    }

    [Fact]
    public async Task A_rules_file_with_mistakes_is_refused_naming_each_field_and_stores_nothing()
    {
        await farm.ProjectAsync("invalid");
        var response = await farm.SetAsync("invalid",
            new TriggerRuleDocument { Name = "a", Source = "koji", Workflow = "rebuild.yaml", Params = new() { ["package"] = "${{ event.nope }}" } },
            new TriggerRuleDocument { Name = "b", Source = "schedule", Schedule = "every day", Workflow = "rebuild.yaml" },
            new TriggerRuleDocument { Name = "c", Source = "github", Packages = ["x"], Workflow = "missing.yaml", Burst = new BurstDocument { Window = "soon" } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var fields = problem.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("field").GetString()).ToList();
        Assert.Contains("rules[0].params.package", fields);
        Assert.Contains("rules[1].schedule", fields);
        Assert.Contains("rules[2].packages", fields);
        Assert.Contains("rules[2].burst.window", fields);
        Assert.Equal(0, await farm.ScalarAsync("SELECT count(*) FROM trigger_sets s JOIN projects p ON p.id = s.project_id WHERE p.name = 'invalid'"));
    }

    [Fact]
    public async Task Setting_the_rules_again_keeps_each_rules_identity_and_every_version()
    {
        await farm.ProjectAsync("versions");
        var first = await farm.SetOkAsync("versions", TriggerFarm.KojiRule("keep", "v-*"), TriggerFarm.KojiRule("drop", "w-*"));
        var second = await farm.SetOkAsync("versions", TriggerFarm.KojiRule("keep", "v-*", burst: 5));

        Assert.Equal(first.Version + 1, second.Version);
        Assert.Equal(first.Rules.Single(r => r.Name == "keep").Id, second.Rules.Single().Id);
        Assert.Equal(5, second.Rules.Single().BurstLimit);
        var history = (await farm.Client.GetFromJsonAsync<List<TriggerVersionView>>("api/v1/projects/versions/triggers/history", KilnClient.Json))!;
        Assert.Equal([["keep"], ["keep", "drop"]], history.Select(h => h.Rules.ToList()));
    }

    [Fact]
    public async Task A_manual_run_with_an_input_key_builds_once_and_a_run_without_one_builds_again()
    {
        await farm.ProjectAsync("manual");
        await farm.SetOkAsync("manual", new TriggerRuleDocument { Name = "by-hand", Source = "manual", Workflow = "rebuild.yaml" });

        async Task<EventAccepted> RunAsync(TriggerRunRequest run)
        {
            var response = await farm.Client.PostAsJsonAsync("api/v1/projects/manual/triggers/by-hand/run", run, KilnClient.Json);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            return (await response.Content.ReadFromJsonAsync<EventAccepted>(KilnClient.Json))!;
        }
        var keyed = await RunAsync(new TriggerRunRequest(new() { ["package"] = "hello" }, "release-1"));
        var repeat = await RunAsync(new TriggerRunRequest(new() { ["package"] = "hello" }, "release-1"));
        var fresh = await RunAsync(new TriggerRunRequest());

        Assert.True(repeat.Duplicate);
        Assert.Equal(keyed.EventId, repeat.EventId);
        Assert.Equal(EventEffectKinds.Created, (await farm.ProcessedAsync(keyed.EventId)).Effects.Single().Kind);
        Assert.Equal(EventEffectKinds.Created, (await farm.ProcessedAsync(fresh.EventId)).Effects.Single().Kind);
        Assert.Equal(2, await farm.ScalarAsync("SELECT count(*) FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = 'manual'"));
    }
}
