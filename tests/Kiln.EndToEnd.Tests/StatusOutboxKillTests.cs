using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Server.Outbox;
using Kiln.Testing;
using Microsoft.AspNetCore.Http;
using Npgsql;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A server killed (SIGKILL) between a workflow's state change and the forge write of it, or between
/// the write and its record, reports the final state after restart: never lost, sent once when the
/// forge never got it, at most once more when the forge got it and Kiln did not record it.
/// </summary>
public sealed class StatusOutboxKillTests
{
    private const string Project = "status-kill";
    private const string Secret = "a-gitlab-secret-token";

    [Fact]
    public async Task A_server_killed_before_sending_succeeded_sends_it_exactly_once_after_restart()
    {
        var (farm, forge) = await StartAsync(nameof(StatusOutboxKillTests) + "Before", "kill-before:succeeded");
        await using var _ = farm;
        await using var __ = forge;

        // The fault: the workflow succeeds, the sender takes its 'succeeded' and kills the server before writing it.
        await farm.Server!.WaitForExitAsync(Farm.Patience);
        await using var db = NpgsqlDataSource.Create(farm.ConnectionString);
        Assert.Equal("succeeded", await ScalarAsync(db, $"SELECT state FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = '{Project}'"));
        // Earlier states went out (the first at submission), the final one did not.
        Assert.NotEmpty(States(forge));
        Assert.DoesNotContain("success", States(forge));
        Assert.Null(await ScalarAsync(db, "SELECT acknowledged FROM status_targets WHERE acknowledged = 'succeeded'"));

        await farm.StartServerAsync();
        await Eventually.TrueAsync(async () => await ScalarAsync(db, "SELECT count(*) FROM status_targets WHERE acknowledged = 'succeeded' AND done") is 1L,
            Farm.Patience, "the target to be acknowledged as succeeded after the restart", farm.Diagnostics);

        // Acknowledged and done: nothing is sent for it again, so the count is final.
        Assert.Equal(1, States(forge).Count(s => s == "success"));
        Assert.Equal(1L, await ScalarAsync(db, "SELECT count(*) FROM status_targets"));
    }

    [Fact]
    public async Task A_server_killed_after_the_forge_took_succeeded_but_before_recording_it_sends_it_at_most_once_more()
    {
        var (farm, forge) = await StartAsync(nameof(StatusOutboxKillTests) + "After", "kill-after:succeeded");
        await using var _ = farm;
        await using var __ = forge;

        // The fault: the forge answered 201 to 'success', the server dies before recording the answer.
        await farm.Server!.WaitForExitAsync(Farm.Patience);
        await using var db = NpgsqlDataSource.Create(farm.ConnectionString);
        // The forge logs a request just after answering it, so the log may trail the server's death by a moment.
        await Eventually.TrueAsync(() => States(forge).Count(s => s == "success") == 1, Farm.Patience, "the forge to have taken 'success'");
        Assert.Null(await ScalarAsync(db, "SELECT acknowledged FROM status_targets WHERE acknowledged = 'succeeded'"));

        await farm.StartServerAsync();
        await Eventually.TrueAsync(async () => await ScalarAsync(db, "SELECT count(*) FROM status_targets WHERE acknowledged = 'succeeded' AND done") is 1L,
            Farm.Patience, "the target to be acknowledged as succeeded after the restart", farm.Diagnostics);

        // Kiln cannot know the forge took the write it never recorded, so it writes it again. That
        // repeat is harmless: a commit status write for the same sha and context (name) replaces
        // the one before on the forge, so the commit still shows one 'kiln' status, 'success'.
        var successes = States(forge).Count(s => s == "success");
        Assert.InRange(successes, 1, 2);
        Assert.Single(Contexts(forge).Distinct());
    }

    /// <summary>A farm with a worker, a GitLab repository linked with an API token (so it reports), a push rule, and one push.</summary>
    private static async Task<(Farm Farm, FakeForge Forge)> StartAsync(string name, string fault)
    {
        // A short leadership: each restart waits out the killed leader's.
        var farm = await Farm.StartAsync(name, leadershipSeconds: 3);
        var forge = await FakeForge.StartAsync();
        try
        {
            // Answer the status writes here, without the fake forge's own status routes: every write
            // is logged with its body (forge.Requests), which the test reads.
            forge.Intercept = async http =>
            {
                if (!http.Request.Path.Value!.Contains("/statuses/", StringComparison.Ordinal))
                {
                    return false;
                }
                http.Response.StatusCode = StatusCodes.Status201Created;
                http.Response.ContentType = "application/json";
                await http.Response.WriteAsync("{}");
                return true;
            };
            await farm.Client.PutProjectAsync(Project, new ProjectSettings(null, null, null), CancellationToken.None);
            var repo = forge.Repository("gitlab", "acme/widget");
            repo.AddHook($"{farm.Url.TrimEnd('/')}/api/v1/hooks/gitlab", Secret);
            await farm.Client.LinkRepositoryAsync(Project, new LinkRepositoryRequest("gitlab", repo.FullName, Secret, forge.ApiUrl("gitlab"), forge.ApiToken),
                CancellationToken.None);
            await farm.Client.SetTriggersAsync(Project, new TriggerSetRequest
            {
                Text = "rules: [...]\n",
                Rules = [new TriggerRuleDocument { Name = "main", Source = "forge", Types = [EventTypes.Push], Branches = ["main"], Workflow = "w.yaml" }],
                Workflows = new() { ["w.yaml"] = new WorkflowDocument { Jobs = new() { ["build"] = new JobDocument { Run = "true" } } } },
            }, CancellationToken.None);

            // The switch goes on a server of its own: the one the setup ran against stops first.
            farm.Server!.KillHard();
            await farm.Server.WaitForExitAsync(Farm.Patience);
            await farm.StartServerAsync(new Dictionary<string, string> { [StatusOutboxDuty.FaultVariable] = fault });
            farm.StartWorker("w1");
            var delivery = (await forge.PushAsync(repo, "main", new string('a', 40))).Single();
            Assert.True(delivery.Succeeded, $"{delivery.StatusCode} {delivery.ResponseBody}");
            return (farm, forge);
        }
        catch
        {
            await forge.DisposeAsync();
            await farm.DisposeAsync();
            throw;
        }
    }

    private static List<JsonElement> Writes(FakeForge forge) =>
        [.. forge.Requests.Where(r => r.Method == "POST" && r.PathAndQuery.Contains("/statuses/", StringComparison.Ordinal))
            .Select(r => JsonDocument.Parse(Encoding.UTF8.GetString(r.Body)).RootElement.Clone())];

    /// <summary>The states the forge was sent, in order.</summary>
    private static List<string> States(FakeForge forge) => [.. Writes(forge).Select(w => w.GetProperty("state").GetString()!)];

    private static List<string> Contexts(FakeForge forge) =>
        [.. Writes(forge).Select(w => w.TryGetProperty("name", out var n) ? n.GetString()! : w.GetProperty("context").GetString()!)];

    private static async Task<object?> ScalarAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return await cmd.ExecuteScalarAsync();
    }
}
