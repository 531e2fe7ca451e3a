using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Mass rebuilds against a real server: the suite's published .dsc files (repository rows as the
/// publisher writes them) become one mass-rebuild workflow each, submitted in batches; asking again
/// creates nothing new, a package is the same workflow whichever rebuild names it, names not
/// published are reported, only maintainers start one, and the status lists what failed to build.
/// </summary>
public sealed class MassRebuildTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private static int s_instances;
    private PackagingFarm _farm = null!;

    public async Task InitializeAsync()
    {
        _farm = await PackagingFarm.CreateAsync(server, $"rebuild{Interlocked.Increment(ref s_instances)}");
        await _farm.EnvironmentAsync("debian/bookworm-amd64");
    }

    public Task DisposeAsync()
    {
        _farm.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_rebuild_submits_one_lowest_priority_workflow_per_published_package_and_repeating_it_creates_nothing_new()
    {
        await PublishAsync("kiln-rb-a", "1.0");
        await PublishAsync("kiln-rb-b", "2.0");
        var all = new StartRebuildRequest { Suite = "bookworm", AllPublished = true };

        Assert.Equal(HttpStatusCode.Forbidden, (await _farm.Contributor.PostAsJsonAsync(RebuildsPath, all, KilnClient.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _farm.Outsider.PostAsJsonAsync(RebuildsPath, all, KilnClient.Json)).StatusCode);

        var started = await StartAsync(all, HttpStatusCode.Created);
        Assert.Equal((2, 2), (started.Total, started.Pending));
        using var client = new KilnClient(_farm.Maintainer);
        var first = await client.SubmitRebuildBatchAsync(started.Id, 1, CancellationToken.None);
        Assert.Equal((1, 1), (first.Submitted, first.Pending));
        var second = await client.SubmitRebuildBatchAsync(started.Id, 20, CancellationToken.None);
        Assert.Equal((1, 0, 2), (second.Submitted, second.Pending, second.Total));
        var workflows = await _farm.RowsAsync(
            "SELECT w.trigger FROM rebuild_items i JOIN workflows w ON w.id = i.workflow_id WHERE i.rebuild_id = @id ORDER BY i.package", started.Id);
        Assert.Equal(["mass-rebuild", "mass-rebuild"], workflows);
        var count = await WorkflowCountAsync();

        var repeated = await StartAsync(all, HttpStatusCode.OK);
        Assert.Equal((started.Id, 0), (repeated.Id, repeated.Pending));

        // Another rebuild naming one of the packages: its workflow is the one already submitted.
        var named = await StartAsync(new StartRebuildRequest { Suite = "bookworm", Packages = ["kiln-rb-a", "not-published"] }, HttpStatusCode.Created);
        Assert.Equal(["not-published"], named.Unknown);
        Assert.Equal(1, (await client.SubmitRebuildBatchAsync(named.Id, 20, CancellationToken.None)).Submitted);
        Assert.Equal(count, await WorkflowCountAsync());
        const string ItemWorkflow = "SELECT workflow_id FROM rebuild_items WHERE rebuild_id = @id AND package = 'kiln-rb-a'";
        Assert.Equal(await _farm.RowsAsync(ItemWorkflow, started.Id), await _farm.RowsAsync(ItemWorkflow, named.Id));

        var status = (await client.GetRebuildAsync(started.Id, CancellationToken.None))!;
        Assert.Equal(2, status.Total);
        Assert.Equal(2, status.States.GetValueOrDefault("running"));
        Assert.Empty(status.Failures);
    }

    [Fact]
    public async Task The_status_of_a_rebuild_lists_each_package_that_failed_with_its_failing_job()
    {
        await PublishAsync("kiln-rb-fail", "3.0");
        var started = await StartAsync(new StartRebuildRequest { Suite = "bookworm", Packages = ["kiln-rb-fail"] }, HttpStatusCode.Created);
        using var client = new KilnClient(_farm.Maintainer);
        await client.SubmitRebuildBatchAsync(started.Id, 20, CancellationToken.None);
        var workflow = long.Parse((await _farm.RowsAsync("SELECT workflow_id FROM rebuild_items WHERE rebuild_id = @id", started.Id)).Single(), System.Globalization.CultureInfo.InvariantCulture);

        // A worker claims the source job and reports the task failed; other work it got goes back.
        using var worker = new KilnClient(await server.RegisterWorkerAsync($"rebuild-worker-{_farm.Project}", slots: 20));
        var claimed = await worker.ClaimAsync(new ClaimRequest(20, 0), CancellationToken.None);
        foreach (var a in claimed.Assignments)
        {
            if (a.WorkflowId == workflow)
            {
                await worker.CompleteAsync(a.WorkRequestId, new CompleteRequest(a.LeaseToken, "failed", 1, "dpkg-source failed"), CancellationToken.None);
            }
            else
            {
                await worker.ReleaseAsync(a.WorkRequestId, new EndWithoutResultRequest(a.LeaseToken, "not this test's"), CancellationToken.None);
            }
        }
        Assert.Contains(claimed.Assignments, a => a.WorkflowId == workflow);

        var status = (await client.GetRebuildAsync(started.Id, CancellationToken.None))!;
        Assert.Equal(1, status.States.GetValueOrDefault("failed"));
        var failure = Assert.Single(status.Failures);
        Assert.Equal(("kiln-rb-fail", "3.0", workflow, "source"), (failure.Package, failure.Version, failure.WorkflowId, failure.Job));
    }

    [Fact]
    public async Task A_rebuild_for_an_environment_that_does_not_exist_is_refused_before_anything_is_recorded()
    {
        var before = await _farm.SqlAsync("SELECT count(*)::text FROM rebuilds", "");
        using var response = await _farm.Maintainer.PostAsJsonAsync(RebuildsPath,
            new StartRebuildRequest { Suite = "trixie", AllPublished = true }, KilnClient.Json);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("debian/trixie-amd64", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(before, await _farm.SqlAsync("SELECT count(*)::text FROM rebuilds", ""));
    }

    private string RebuildsPath => $"/api/v1/projects/{_farm.Project}/rebuilds";

    private async Task<StartRebuildResponse> StartAsync(StartRebuildRequest request, HttpStatusCode expected)
    {
        using var response = await _farm.Maintainer.PostAsJsonAsync(RebuildsPath, request, KilnClient.Json);
        Assert.True(response.StatusCode == expected, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<StartRebuildResponse>(KilnClient.Json))!;
    }

    private async Task<string> WorkflowCountAsync() =>
        (await _farm.SqlAsync("SELECT count(*)::text FROM workflows w JOIN projects p ON p.id = w.project_id WHERE p.name = @a", _farm.Project))!.ToString()!;

    /// <summary>Puts a source package in the project's bookworm repository as the publisher does: its .dsc and tarball in the pool, as blobs.</summary>
    private async Task PublishAsync(string package, string version)
    {
        var dsc = _farm.MakeDsc(package, version);
        await _farm.SqlAsync("""
            INSERT INTO repositories (project_id, suite, format, created_at) SELECT id, 'bookworm', 'apt', now() FROM projects WHERE name = @a
            ON CONFLICT DO NOTHING
            """, _farm.Project);
        foreach (var path in (string[])[dsc, Path.ChangeExtension(dsc, ".tar.xz")])
        {
            var bytes = await File.ReadAllBytesAsync(path);
            var sha = await _farm.StoreBlobAsync(bytes);
            await _farm.SqlAsync($"""
                INSERT INTO repository_packages (repository_id, package, version, architecture, filename, sha256, size, source_package, published_at)
                SELECT r.id, '{package}', '{version}', 'source', 'pool/main/k/{package}/{Path.GetFileName(path)}', @c, @b, '{package}', now()
                FROM repositories r JOIN projects p ON p.id = r.project_id WHERE p.name = @a AND r.suite = 'bookworm'
                """, _farm.Project, bytes.Length, sha);
            Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
    }
}
