using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Source intake against a real server and real source packages (dpkg-source -b, rpmbuild -bs):
/// files are checked against the .dsc before anything is recorded (422 naming the file), limits
/// hold before bytes are stored, the project's pipeline is submitted with one build per
/// architecture in its environment, a repeated upload is the same workflow, and access follows the project.
/// </summary>
public sealed class SourceIntakeTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private static int s_instances;
    private PackagingFarm _farm = null!;

    public async Task InitializeAsync()
    {
        _farm = await PackagingFarm.CreateAsync(server, $"intake{Interlocked.Increment(ref s_instances)}");
        foreach (var env in (string[])["debian/bookworm-amd64", "debian/bookworm-arm64", "fedora/41-amd64"])
        {
            await _farm.EnvironmentAsync(env);
        }
    }

    public Task DisposeAsync()
    {
        _farm.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_dsc_and_its_files_are_verified_stored_and_built_by_the_debian_pipeline_once_per_architecture()
    {
        var dsc = _farm.MakeDsc("kiln-intake", "1.0");
        var files = await UploadAsync(_farm.Contributor, dsc, Path.ChangeExtension(dsc, ".tar.xz"));
        var request = new SubmitSourceRequest { Files = files, Options = new SourceBuildOptions { Architectures = ["amd64", "arm64"] } };

        using var first = await _farm.Contributor.PostAsJsonAsync($"/api/v1/projects/{_farm.Project}/sources", request, KilnClient.Json);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var answer = (await first.Content.ReadFromJsonAsync<SubmitSourceResponse>(KilnClient.Json))!;
        Assert.Equal(("kiln-intake", "1.0"), (answer.Package, answer.Version));
        Assert.NotNull(answer.UploadId);

        var jobs = await _farm.RowsAsync(
            "SELECT name, execution->>'uses', COALESCE(execution->'environment'->>'name', ''), queue, COALESCE(architecture, '') FROM work_requests WHERE workflow_id = @id ORDER BY name", answer.WorkflowId);
        Assert.Equal(
        [
            "build[amd64]\tdebian/sbuild\tdebian/bookworm-amd64\tbuilds\tamd64",
            "build[arm64]\tdebian/sbuild\tdebian/bookworm-arm64\tbuilds\tarm64",
            "lintian\tdebian/lintian\tdebian/bookworm-amd64\tbuilds\t",
            "publish\tapt/publish\t\tpublish\t",
            "source\tdebian/source\t\tbuilds\t",
        ], jobs);
        var sourceEnv = await _farm.RowsAsync("SELECT env->>'KILN_WITH_UPLOAD' FROM work_requests WHERE workflow_id = @id AND name = 'source'", answer.WorkflowId);
        Assert.Equal([answer.UploadId.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)], sourceEnv);

        using var again = await _farm.Contributor.PostAsJsonAsync($"/api/v1/projects/{_farm.Project}/sources", request, KilnClient.Json);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var repeated = (await again.Content.ReadFromJsonAsync<SubmitSourceResponse>(KilnClient.Json))!;
        Assert.Equal((answer.UploadId, answer.WorkflowId, false), (repeated.UploadId, repeated.WorkflowId, repeated.Created));

        // What the debian/source job fetches: the upload's files with their hashes, and their bytes (ranges too).
        var view = (await _farm.Viewer.GetFromJsonAsync<SourceUploadView>($"/api/v1/sources/{answer.UploadId}", KilnClient.Json))!;
        Assert.Equal(files.OrderBy(f => f.Name, StringComparer.Ordinal).ToList(), view.Files);
        var tarball = Path.ChangeExtension(dsc, ".tar.xz");
        using var range = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/sources/{answer.UploadId}/files/{Path.GetFileName(tarball)}");
        range.Headers.Range = new RangeHeaderValue(10, null);
        using var partial = await _farm.Viewer.SendAsync(range);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal((await File.ReadAllBytesAsync(tarball))[10..], await partial.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_file_the_dsc_lists_but_the_upload_lacks_is_refused_with_422_naming_it_and_nothing_is_recorded()
    {
        var dsc = _farm.MakeDsc("kiln-missing", "1.0");
        var files = await UploadAsync(_farm.Contributor, dsc);
        var (status, body) = await SubmitAsync(_farm.Contributor, new SubmitSourceRequest { Files = files });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("kiln-missing_1.0.tar.xz", (string?)body["file"]);
        Assert.Contains("missing from the upload", (string?)body["detail"], StringComparison.Ordinal);
        Assert.Equal("0", (await _farm.SqlAsync("SELECT count(*)::text FROM source_uploads WHERE package = @a", "kiln-missing"))!.ToString());
    }

    [Fact]
    public async Task A_file_whose_checksum_differs_from_the_dsc_is_refused_with_422_naming_it()
    {
        var dsc = _farm.MakeDsc("kiln-mismatch", "1.0");
        var tarball = Path.ChangeExtension(dsc, ".tar.xz");
        var files = await UploadAsync(_farm.Contributor, dsc);
        // Bytes of the same length but other content: the size agrees, the SHA-256 does not.
        var other = await File.ReadAllBytesAsync(tarball);
        other[^1] ^= 0xFF;
        var sha = await _farm.StoreBlobAsync(other);
        var (status, body) = await SubmitAsync(_farm.Contributor, new SubmitSourceRequest { Files = [.. files, new SourceFileRef(Path.GetFileName(tarball), sha, other.Length)] });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal(Path.GetFileName(tarball), (string?)body["file"]);
        Assert.Contains("SHA-256", (string?)body["detail"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_the_dsc_does_not_list_is_refused_with_422_naming_it()
    {
        var dsc = _farm.MakeDsc("kiln-extra", "1.0");
        var extra = Path.Combine(_farm.Directory, "notes.txt");
        await File.WriteAllTextAsync(extra, "not part of the package");
        var files = await UploadAsync(_farm.Contributor, dsc, Path.ChangeExtension(dsc, ".tar.xz"), extra);
        var (status, body) = await SubmitAsync(_farm.Contributor, new SubmitSourceRequest { Files = files });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("notes.txt", (string?)body["file"]);
    }

    [Fact]
    public async Task Too_large_files_too_large_a_dsc_and_too_many_files_are_refused_before_anything_is_stored()
    {
        var huge = 3L * 1024 * 1024 * 1024;
        using (var put = new HttpRequestMessage(HttpMethod.Put, $"/api/v1/projects/{_farm.Project}/sources/content?sha256={new string('b', 64)}&size={huge}&offset=0")
        {
            Content = new ByteArrayContent([1, 2, 3]),
        })
        using (var answer = await _farm.Contributor.SendAsync(put))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, answer.StatusCode);
            Assert.Contains("MaxSourceFileBytes", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var bigDsc = new byte[1024 * 1024 + 1];
        RandomNumberGenerator.Fill(bigDsc);
        var sha = await _farm.StoreBlobAsync(bigDsc);
        var (status, _) = await SubmitAsync(_farm.Contributor, new SubmitSourceRequest { Files = [new SourceFileRef("big_1.0.dsc", sha, bigDsc.Length)] });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);

        var many = Enumerable.Range(0, 65).Select(i => new SourceFileRef($"f{i}.tar.xz", new string('c', 64), 1)).ToList();
        (status, _) = await SubmitAsync(_farm.Contributor, new SubmitSourceRequest { Files = many });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
    }

    [Fact]
    public async Task A_source_rpm_is_read_from_its_header_and_built_by_the_rpm_pipeline()
    {
        var srpm = _farm.MakeSrpm("kiln-rpm-intake", "2.1", "3");
        var files = await UploadAsync(_farm.Contributor, srpm);
        var (status, body) = await SubmitAsync(_farm.Contributor, new SubmitSourceRequest { Files = files });
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(("kiln-rpm-intake", "2.1-3"), ((string?)body["package"], (string?)body["version"]));
        var jobs = await _farm.RowsAsync(
            "SELECT name, execution->>'uses', COALESCE(execution->'environment'->>'name', '') FROM work_requests WHERE workflow_id = @id ORDER BY name", (long)body["workflowId"]!);
        Assert.Equal(["build[amd64]\trpm/rpmbuild\tfedora/41-amd64", "publish\trpm/publish\t", "source\trpm/source\t"], jobs);
    }

    [Fact]
    public async Task A_viewer_may_not_upload_and_an_outsider_sees_a_private_projects_upload_as_missing()
    {
        var dsc = _farm.MakeDsc("kiln-access", "1.0");
        var bytes = await File.ReadAllBytesAsync(dsc);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        using (var put = new HttpRequestMessage(HttpMethod.Put, $"/api/v1/projects/{_farm.Project}/sources/content?sha256={sha}&size={bytes.Length}&offset=0") { Content = new ByteArrayContent(bytes) })
        using (var refused = await _farm.Viewer.SendAsync(put))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        var (status, _) = await SubmitAsync(_farm.Viewer, new SubmitSourceRequest { Files = [new SourceFileRef(Path.GetFileName(dsc), sha, bytes.Length)] });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        (status, _) = await SubmitAsync(_farm.Outsider, new SubmitSourceRequest { Files = [new SourceFileRef(Path.GetFileName(dsc), sha, bytes.Length)] });
        Assert.Equal(HttpStatusCode.NotFound, status);

        var files = await UploadAsync(_farm.Contributor, dsc, Path.ChangeExtension(dsc, ".tar.xz"));
        var (created, body) = await SubmitAsync(_farm.Contributor, new SubmitSourceRequest { Files = files });
        Assert.Equal(HttpStatusCode.Created, created);
        var id = (long)body["uploadId"]!;
        using var anonymous = server.AnonymousClient();
        foreach (var client in (HttpClient[])[_farm.Outsider, anonymous])
        {
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/v1/sources/{id}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/v1/sources/{id}/files/{Path.GetFileName(dsc)}")).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await _farm.Viewer.GetAsync($"/api/v1/sources/{id}/files/{Path.GetFileName(dsc)}")).StatusCode);
    }

    private async Task<List<SourceFileRef>> UploadAsync(HttpClient http, params string[] paths)
    {
        using var client = new KilnClient(http);
        var files = new List<SourceFileRef>();
        foreach (var path in paths)
        {
            var bytes = await File.ReadAllBytesAsync(path);
            var file = new SourceFileRef(Path.GetFileName(path), Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length);
            var answer = await client.UploadSourceContentAsync(_farm.Project, file.Sha256, file.Size, 0, new MemoryStream(bytes), bytes.Length, CancellationToken.None);
            Assert.True(answer.Complete);
            files.Add(file);
        }
        return files;
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> SubmitAsync(HttpClient client, SubmitSourceRequest request)
    {
        using var response = await client.PostAsJsonAsync($"/api/v1/projects/{_farm.Project}/sources", request, KilnClient.Json);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonNode.Parse(text)!.AsObject() : []);
    }
}
