using System.Text;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests.Hooks;

/// <summary>
/// Forge deliveries through the whole path (issue 13): the fake forge signs and sends them as each
/// forge does, the server verifies and stores them, the leader's processor applies the project's
/// rules. Repeats and doubled hooks make one workflow; a forged delivery makes none.
/// </summary>
public sealed class ForgeTriggerTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private static readonly TriggerRuleDocument MainPush = new()
    {
        Name = "main", Source = "forge", Types = [EventTypes.Push], Branches = ["main"], Workflow = "rebuild.yaml",
        Params = new() { ["package"] = "${{ event.repository }}@${{ event.sha }}" },
    };

    private readonly TriggerFarm _triggers = new(server);
    private FakeForge _forge = null!;
    private HookFarm _hooks = null!;

    public async Task InitializeAsync()
    {
        _forge = await FakeForge.StartAsync();
        _hooks = new HookFarm(server, _forge);
    }

    public async Task DisposeAsync() => await _forge.DisposeAsync();

    [Theory]
    [InlineData("github")]
    [InlineData("gitlab")]
    [InlineData("forgejo")]
    public async Task The_same_delivery_three_times_and_the_same_push_through_an_organisation_hook_make_one_workflow(string kind)
    {
        const string secret = "one-secret-for-both-hooks";
        var (project, repo, _, _) = await _hooks.LinkedAsync(kind, secret);
        await _triggers.SetOkAsync(project, MainPush);
        repo.AddHook(_hooks.HookUrl(kind), secret, organisation: true);
        var sha = new string('7', 40);

        // one push, two hooks: two deliveries with different ids and the same commit
        var deliveries = await _forge.PushAsync(repo, "main", sha);
        Assert.Equal(2, deliveries.Count);
        // and the first one redelivered twice with its own id
        var repeats = new[] { await _forge.RedeliverAsync(deliveries[0]), await _forge.RedeliverAsync(deliveries[0]) };
        Assert.All(deliveries, d => Assert.Equal(202, d.StatusCode));
        Assert.All(repeats, d => Assert.Equal(200, d.StatusCode));
        await _triggers.DrainAsync();

        Assert.Equal(1, await WorkflowsAsync(project));
        var events = await Task.WhenAll(deliveries.Select(async d => await _triggers.EventAsync((await HookFarm.AcceptedAsync(d)).EventId)));
        var kinds = events.Select(e => e.Effects.Single().Kind).Order().ToList();
        Assert.Equal([EventEffectKinds.Created, EventEffectKinds.Unchanged], kinds);
        Assert.Single(events.Select(e => e.Effects.Single().WorkflowId).Distinct());
    }

    [Theory]
    [InlineData("github", "X-Hub-Signature-256")]
    [InlineData("gitlab", "X-Gitlab-Token")]
    [InlineData("forgejo", "X-Forgejo-Signature")]
    public async Task A_delivery_with_a_bad_signature_is_refused_kept_as_a_security_event_and_makes_no_workflow(string kind, string header)
    {
        var (project, repo, _, hook) = await _hooks.LinkedAsync(kind);
        await _triggers.SetOkAsync(project, MainPush);
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('8', 40));

        var forged = await _forge.SendAsync(hook, name, null, Encoding.UTF8.GetBytes(body.ToJsonString()), tamper: r =>
        {
            r.Headers.Remove(header);
            r.Headers.Add(header, kind == "gitlab" ? "not-the-secret" : "sha256=" + new string('0', 64));
            r.Headers.Remove("X-Gitea-Signature");
        });
        await _triggers.DrainAsync();

        Assert.Equal(401, forged.StatusCode);
        Assert.Equal(0, await WorkflowsAsync(project));
        var rejected = await _hooks.EventAsync(HookFarm.RejectedId(forged));
        Assert.Equal(EventStates.Rejected, rejected.State);
        Assert.Null(rejected.DeliveryKey);
        // never processed: its only effect is the refusal
        Assert.Contains("rejected", rejected.Effects, StringComparison.Ordinal);
        Assert.DoesNotContain("created", rejected.Effects, StringComparison.Ordinal);
    }

    private Task<long> WorkflowsAsync(string project) => _triggers.ScalarAsync(
        $"SELECT count(*) FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = '{project}'");
}
