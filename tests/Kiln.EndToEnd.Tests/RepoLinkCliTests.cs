using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// <c>kiln repo link|list|unlink</c> and <c>kiln events reconcile</c> against a real server: a
/// generated secret is printed once and signs the forge's deliveries; nothing lists it again; a
/// reconcile of a link without the forge's API is one line saying what to do.
/// </summary>
public sealed class RepoLinkCliTests
{
    private const string Project = "e2e-hooks";

    [Fact]
    public async Task A_generated_secret_is_shown_once_verifies_the_forges_deliveries_and_is_never_listed()
    {
        await using var farm = await Farm.StartAsync(nameof(RepoLinkCliTests));
        await farm.Client.PutProjectAsync(Project, new ProjectSettings(null, null, null), CancellationToken.None);
        await using var forge = await FakeForge.StartAsync();

        var (linked, linkOut, linkErr) = await KilnProcess.RunSplitAsync(["repo", "link", Project, "github", "Acme/Widget", "--generate-secret", "--server", farm.Url]);
        Assert.True(linked == 0, linkOut + linkErr);
        var secret = linkOut.Split('\n').Single(l => l.StartsWith("webhook secret", StringComparison.Ordinal)).Split(": ")[^1].Trim();
        Assert.Matches("^[0-9a-f]{64}$", secret);
        Assert.Contains($"{farm.Url.TrimEnd('/')}/api/v1/hooks/github", linkOut, StringComparison.Ordinal);

        var repo = forge.Repository("github", "acme/widget");
        repo.AddHook($"{farm.Url.TrimEnd('/')}/api/v1/hooks/github", secret);
        var delivery = (await forge.PushAsync(repo, "main", new string('1', 40))).Single();
        Assert.Equal(202, delivery.StatusCode);

        var (listed, listOut, _) = await KilnProcess.RunSplitAsync(["repo", "list", Project, "--server", farm.Url, "--json"]);
        Assert.Equal(0, listed);
        Assert.DoesNotContain(secret, listOut, StringComparison.Ordinal);
        var link = JsonSerializer.Deserialize<List<RepositoryLinkView>>(listOut, KilnClient.Json)!.Single();
        Assert.Equal(("acme/widget", "github"), (link.Repository, link.Forge));
        Assert.NotNull(link.LastEventAt);

        var (reconciled, _, reconcileErr) = await KilnProcess.RunSplitAsync(["events", "reconcile", link.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--server", farm.Url]);
        Assert.NotEqual(0, reconciled);
        Assert.Contains("--api-url", reconcileErr, StringComparison.Ordinal);
        Assert.Single(reconcileErr.Trim().Split('\n'));

        var (unlinked, unlinkOut, _) = await KilnProcess.RunSplitAsync(["repo", "unlink", link.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--server", farm.Url]);
        Assert.Equal(0, unlinked);
        Assert.Contains("removed", unlinkOut, StringComparison.Ordinal);
        Assert.Equal(404, (await forge.PushAsync(repo, "main", new string('2', 40))).Single().StatusCode);
    }

    [Fact]
    public async Task A_bad_link_is_one_line_naming_the_field_and_a_non_zero_exit()
    {
        await using var farm = await Farm.StartAsync(nameof(RepoLinkCliTests) + "Bad");
        await farm.Client.PutProjectAsync(Project, new ProjectSettings(null, null, null), CancellationToken.None);

        var (exit, _, stderr) = await KilnProcess.RunSplitAsync(["repo", "link", Project, "bitbucket", "a/b", "--generate-secret", "--server", farm.Url]);
        var (period, _, periodErr) = await KilnProcess.RunSplitAsync(["repo", "link", Project, "github", "a/b", "--generate-secret", "--reconcile-every", "soon", "--server", farm.Url]);

        Assert.NotEqual(0, exit);
        Assert.Contains("forge", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Equal(2, period);
        Assert.Contains("--reconcile-every", periodErr, StringComparison.Ordinal);
    }
}
