using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// What the issue tried from outside, with real processes: a `kiln server` and the `kiln` CLI
/// run as an anonymous caller and as a contributor of another project. Each attempt is refused
/// with a one-line error and a non-zero exit, and nothing changed behind it.
/// </summary>
public sealed class OutsideAccessTests
{
    private static readonly IReadOnlyDictionary<string, string> Anonymous = new Dictionary<string, string> { ["KILN_TOKEN"] = "" };

    [Fact]
    public async Task An_anonymous_caller_and_a_contributor_of_another_project_change_nothing_and_see_no_private_project()
    {
        await using var farm = await Farm.StartAsync(nameof(OutsideAccessTests));
        var admin = farm.Client;
        await admin.CreateProjectAsync(new CreateProjectRequest("outside-private", Visibility: "private"), CancellationToken.None);
        await admin.CreateProjectAsync(new CreateProjectRequest("outside-public"), CancellationToken.None);
        await admin.CreateProjectAsync(new CreateProjectRequest("outside-carol"), CancellationToken.None);
        // No worker: both workflows stay pending, so a cancel or retry that got through would show.
        var secret = await admin.SubmitAsync(Job("outside-private"), CancellationToken.None);
        var open = await admin.SubmitAsync(Job("outside-public"), CancellationToken.None);
        await admin.CreateUserAsync(new CreateUserRequest("carol"), CancellationToken.None);
        await admin.SetMemberAsync("outside-carol", "carol", "contributor", CancellationToken.None);
        var carol = new Dictionary<string, string>
        {
            ["KILN_TOKEN"] = (await admin.CreateUserTokenAsync("carol", new CreateTokenRequest("outside test"), CancellationToken.None)).Token,
        };
        var file = Path.Combine(farm.Directory, "job.yaml");
        await File.WriteAllTextAsync(file, "name: outside\njobs:\n  build:\n    run: echo should-not-run\n");

        // Anonymous: every change needs a sign-in, and the private project does not exist for it.
        await RefusedAsync(Anonymous, "sign in", "submit", file, "--project", "outside-public", "--server", farm.Url);
        await RefusedAsync(Anonymous, "sign in", "cancel", $"{open.Id}", "--server", farm.Url);
        await RefusedAsync(Anonymous, "sign in", "retry", $"{open.Id}", "--server", farm.Url);
        await RefusedAsync(Anonymous, "sign in", "priority", $"{open.Id}/build", "50", "--server", farm.Url);
        await RefusedAsync(Anonymous, "sign in", "project", "set", "outside-public", "--weight", "100", "--server", farm.Url);
        await RefusedAsync(Anonymous, "does not exist", "show", $"{secret.Id}", "--server", farm.Url);
        await RefusedAsync(Anonymous, "does not exist", "logs", $"{secret.Id}/build", "--server", farm.Url);
        var (listExit, list, _) = await KilnProcess.RunSplitAsync(["list", "--json", "--server", farm.Url], Anonymous);
        Assert.Equal(0, listExit);
        Assert.Contains("outside-public", list, StringComparison.Ordinal);
        Assert.DoesNotContain("outside-private", list, StringComparison.Ordinal);

        // A contributor of its own project: another project's work is not its to touch.
        await RefusedAsync(carol, "does not exist", "submit", file, "--project", "outside-private", "--server", farm.Url);
        await RefusedAsync(carol, "does not exist", "cancel", $"{secret.Id}", "--server", farm.Url);
        await RefusedAsync(carol, "contributor role", "submit", file, "--project", "outside-public", "--server", farm.Url);
        await RefusedAsync(carol, "maintainer role", "cancel", $"{open.Id}", "--server", farm.Url);
        await RefusedAsync(carol, "maintainer role", "priority", $"{open.Id}/build", "50", "--server", farm.Url);
        await RefusedAsync(carol, "admin", "project", "set", "outside-carol", "--weight", "100", "--server", farm.Url);
        var (ownExit, own, ownErr) = await KilnProcess.RunSplitAsync(["submit", file, "--project", "outside-carol", "--server", farm.Url], carol);
        Assert.True(ownExit == 0, own + ownErr);

        // Nothing behind the refusals changed.
        foreach (var id in new[] { secret.Id, open.Id })
        {
            var view = await admin.GetWorkflowAsync(id, CancellationToken.None);
            Assert.Equal("running", view.State);
            Assert.Equal(0, view.Counts.Cancelled);
        }
        Assert.Equal(1, (await admin.GetProjectAsync("outside-public", CancellationToken.None)).Weight);
        Assert.Equal(1, (await admin.GetProjectAsync("outside-carol", CancellationToken.None)).Weight);
        var publicWorkflows = await admin.ListWorkflowsAsync("outside-public", null, 10, null, CancellationToken.None);
        Assert.Single(publicWorkflows.Items);
    }

    private static WorkflowDocument Job(string project) => new()
    {
        Name = "outside",
        Project = project,
        Jobs = new() { ["build"] = new JobDocument { Run = "echo hello" } },
    };

    /// <summary>The command fails with one line on stderr that says <paramref name="why"/>.</summary>
    private static async Task RefusedAsync(IReadOnlyDictionary<string, string> env, string why, params string[] args)
    {
        var (exit, stdout, stderr) = await KilnProcess.RunSplitAsync(args, env);
        Assert.True(exit != 0, $"kiln {string.Join(' ', args)} succeeded:\n{stdout}{stderr}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"kiln {string.Join(' ', args)}: expected one line on stderr, got:\n{stderr}");
        Assert.Contains(why, lines[0], StringComparison.Ordinal);
    }
}
