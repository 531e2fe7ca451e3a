using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;

namespace Kiln.Engine.Tests;

/// <summary>
/// apt/publish over the real API: tiny real .deb files built with dpkg-deb are output by a build job, the
/// publish job that needs it asks the server to publish, and what is served at /repos is checked as apt
/// checks it (gpgv over InRelease with the served key, the Release hashes against the served indices).
/// </summary>
public sealed class AptRepositoryTests(RepositoryServerFixture server) : IClassFixture<RepositoryServerFixture>
{
    private const string Suite = "bookworm";

    [Fact]
    public async Task A_published_deb_is_served_in_a_signed_repository_that_apt_would_accept()
    {
        await using var farm = new RepositoryFarm(server);
        var deb = await farm.DebAsync("kiln-hello", "1.0-1");
        var held = await farm.ClaimPublishAsync("apt-signed", Suite, "apt/publish", deb);
        var published = await held.PublishAsync();
        Assert.Equal(1, published.Added);
        Assert.Equal(0, published.Unchanged);
        Assert.Equal("apt-signed/bookworm", published.Repository);
        Assert.Equal($"{server.Host.Url}/repos/apt-signed/bookworm", published.Url);
        Assert.Equal($"deb [signed-by=/etc/apt/keyrings/kiln-apt-signed.gpg] {server.Host.Url}/repos/apt-signed/bookworm bookworm main", published.SourcesLine);

        using var anonymous = server.AnonymousClient();
        var key = await farm.FetchAsync(anonymous, "/repos/apt-signed/key.gpg");
        var inRelease = await farm.FetchAsync(anonymous, "/repos/apt-signed/bookworm/dists/bookworm/InRelease");
        var (verified, said) = await RepositoryFarm.TryRunAsync("gpgv", "--keyring", key, inRelease);
        Assert.True(verified == 0, said);
        var release = await farm.FetchAsync(anonymous, "/repos/apt-signed/bookworm/dists/bookworm/Release");
        var signature = await farm.FetchAsync(anonymous, "/repos/apt-signed/bookworm/dists/bookworm/Release.gpg");
        (verified, said) = await RepositoryFarm.TryRunAsync("gpgv", "--keyring", key, signature, release);
        Assert.True(verified == 0, said);

        // Every index Release names is served with the size and SHA-256 it says, also under by-hash.
        var releaseText = await File.ReadAllTextAsync(release);
        Assert.Contains("Acquire-By-Hash: yes", releaseText, StringComparison.Ordinal);
        Assert.Contains("Origin: Kiln apt-signed", releaseText, StringComparison.Ordinal);
        var indices = Sha256Lines(releaseText);
        Assert.Contains(indices, i => i.Path == "main/binary-amd64/Packages");
        foreach (var (sha, size, path) in indices)
        {
            var bytes = await anonymous.GetByteArrayAsync($"/repos/apt-signed/bookworm/dists/bookworm/{path}");
            Assert.Equal(size, bytes.LongLength);
            Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(bytes)));
            var byHash = $"/repos/apt-signed/bookworm/dists/bookworm/{Path.GetDirectoryName(path)}/by-hash/SHA256/{sha}";
            Assert.Equal(bytes, await anonymous.GetByteArrayAsync(byHash));
        }

        // The stanza points at the pool file, which is served byte for byte.
        var packages = await anonymous.GetStringAsync("/repos/apt-signed/bookworm/dists/bookworm/main/binary-amd64/Packages");
        var debBytes = await File.ReadAllBytesAsync(deb);
        Assert.Contains("Package: kiln-hello\n", packages, StringComparison.Ordinal);
        Assert.Contains("Filename: pool/main/k/kiln-hello/kiln-hello_1.0-1_amd64.deb\n", packages, StringComparison.Ordinal);
        Assert.Contains($"SHA256: {Convert.ToHexStringLower(SHA256.HashData(debBytes))}\n", packages, StringComparison.Ordinal);
        Assert.Contains($"Size: {debBytes.Length}\n", packages, StringComparison.Ordinal);
        using var pool = await anonymous.GetAsync("/repos/apt-signed/bookworm/pool/main/k/kiln-hello/kiln-hello_1.0-1_amd64.deb");
        Assert.Equal(HttpStatusCode.OK, pool.StatusCode);
        Assert.Equal("application/vnd.debian.binary-package", pool.Content.Headers.ContentType?.MediaType);
        Assert.Equal(debBytes, await pool.Content.ReadAsByteArrayAsync());

        // A range of it, as apt resumes a download.
        using var range = new HttpRequestMessage(HttpMethod.Get, "/repos/apt-signed/bookworm/pool/main/k/kiln-hello/kiln-hello_1.0-1_amd64.deb");
        range.Headers.Range = new RangeHeaderValue(10, 19);
        using var partial = await anonymous.SendAsync(range);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(debBytes[10..20], await partial.Content.ReadAsByteArrayAsync());

        // The API lists it, with the line to use.
        var repositories = (await server.Client.GetFromJsonAsync<List<RepositoryView>>("/api/v1/projects/apt-signed/repositories"))!;
        var listed = Assert.Single(repositories);
        Assert.Equal(("bookworm", "apt", published.Snapshot, 1L), (listed.Suite, listed.Format, listed.Snapshot, listed.Packages));
        Assert.Equal(published.SourcesLine, listed.SourcesLine);
        var detail = (await server.Client.GetFromJsonAsync<RepositoryDetail>("/api/v1/projects/apt-signed/repositories/bookworm"))!;
        Assert.Equal("pool/main/k/kiln-hello/kiln-hello_1.0-1_amd64.deb", Assert.Single(detail.Packages).Filename);
        Assert.Equal(held.BuildId, detail.Packages[0].WorkRequestId);
    }

    [Fact]
    public async Task Publishing_again_adds_to_what_is_published_and_the_same_file_again_is_unchanged()
    {
        await using var farm = new RepositoryFarm(server);
        var first = await (await farm.ClaimPublishAsync("apt-incremental", Suite, "apt/publish", await farm.DebAsync("one", "1.0"))).PublishAsync();
        var second = await (await farm.ClaimPublishAsync("apt-incremental", Suite, "apt/publish", await farm.DebAsync("two", "2.0", "all"))).PublishAsync();
        Assert.Equal((1, 0, first.Snapshot + 1), (second.Added, second.Unchanged, second.Snapshot));
        using var anonymous = server.AnonymousClient();
        var packages = await anonymous.GetStringAsync("/repos/apt-incremental/bookworm/dists/bookworm/main/binary-amd64/Packages");
        Assert.Contains("Package: one\n", packages, StringComparison.Ordinal);
        Assert.Contains("Package: two\n", packages, StringComparison.Ordinal);

        // The very file published first, output again by another build: unchanged, no new snapshot.
        var firstDeb = (await server.Client.GetFromJsonAsync<RepositoryDetail>("/api/v1/projects/apt-incremental/repositories/bookworm"))!.Packages.Single(p => p.Package == "one");
        var same = Path.Combine(farm.Scratch, "one_1.0_amd64.deb");
        await File.WriteAllBytesAsync(same, await anonymous.GetByteArrayAsync($"/repos/apt-incremental/bookworm/{firstDeb.Filename}"));
        var unchanged = await (await farm.ClaimPublishAsync("apt-incremental", Suite, "apt/publish", same)).PublishAsync();
        Assert.Equal((0, 1, second.Snapshot), (unchanged.Added, unchanged.Unchanged, unchanged.Snapshot));
    }

    [Fact]
    public async Task A_package_seen_twice_among_the_inputs_under_other_names_is_published_once_under_debians_name()
    {
        await using var farm = new RepositoryFarm(server);
        var built = await farm.DebAsync("twice", "1:1.0-1");
        var deb = Path.Combine(Path.GetDirectoryName(built)!, "twice_1.0-1_amd64.deb");
        File.Move(built, deb);
        // what autopkgtest leaves beside the build's own .deb: the same bytes, another name
        var copy = Path.Combine(Path.GetDirectoryName(deb)!, "twice.deb");
        File.Copy(deb, copy);
        var published = await (await farm.ClaimPublishAsync("apt-twice", Suite, "apt/publish", deb, copy)).PublishAsync();
        Assert.Equal(1, published.Added);
        using var anonymous = server.AnonymousClient();
        var packages = await anonymous.GetStringAsync("/repos/apt-twice/bookworm/dists/bookworm/main/binary-amd64/Packages");
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(packages, "^Package: twice$", System.Text.RegularExpressions.RegexOptions.Multiline));
        // the epoch is not part of the file's name, as in Debian's archive
        Assert.Contains("Filename: pool/main/t/twice/twice_1.0-1_amd64.deb\n", packages, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_different_file_at_a_published_path_is_refused_with_409_naming_it_and_the_published_one_stays()
    {
        await using var farm = new RepositoryFarm(server);
        var original = await farm.DebAsync("clash", "1.0", content: "original");
        await (await farm.ClaimPublishAsync("apt-conflict", Suite, "apt/publish", original)).PublishAsync();
        var impostor = await farm.DebAsync("clash", "1.0", content: "different");
        var held = await farm.ClaimPublishAsync("apt-conflict", Suite, "apt/publish", impostor);
        var refused = await Assert.ThrowsAsync<KilnApiException>(held.PublishAsync);
        Assert.Equal(409, (int)refused.Status);
        Assert.Contains("pool/main/c/clash/clash_1.0_amd64.deb", refused.Message, StringComparison.Ordinal);
        using var anonymous = server.AnonymousClient();
        Assert.Equal(await File.ReadAllBytesAsync(original), await anonymous.GetByteArrayAsync("/repos/apt-conflict/bookworm/pool/main/c/clash/clash_1.0_amd64.deb"));
    }

    [Fact]
    public async Task Two_concurrent_publishes_to_one_repository_run_one_after_the_other_and_both_are_published()
    {
        await using var farm = new RepositoryFarm(server);
        var start = await (await farm.ClaimPublishAsync("apt-concurrent", Suite, "apt/publish", await farm.DebAsync("base", "1"))).PublishAsync();
        var a = await farm.ClaimPublishAsync("apt-concurrent", Suite, "apt/publish", await farm.DebAsync("left", "1"));
        var b = await farm.ClaimPublishAsync("apt-concurrent", Suite, "apt/publish", await farm.DebAsync("right", "1"));
        var both = await Task.WhenAll(a.PublishAsync(), b.PublishAsync());
        Assert.Equal([start.Snapshot + 1, start.Snapshot + 2], both.Select(p => p.Snapshot).Order());
        Assert.All(both, p => Assert.Equal(1, p.Added));
        using var anonymous = server.AnonymousClient();
        var packages = await anonymous.GetStringAsync("/repos/apt-concurrent/bookworm/dists/bookworm/main/binary-amd64/Packages");
        Assert.Contains("Package: base\n", packages, StringComparison.Ordinal);
        Assert.Contains("Package: left\n", packages, StringComparison.Ordinal);
        Assert.Contains("Package: right\n", packages, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_the_running_publish_job_under_its_own_lease_may_publish()
    {
        await using var farm = new RepositoryFarm(server);
        var held = await farm.ClaimPublishAsync("apt-fence", Suite, "apt/publish", await farm.DebAsync("fenced", "1"));
        var wrongLease = await Assert.ThrowsAsync<KilnApiException>(() => held.Worker.PublishAsync(held.Assignment.WorkRequestId, Guid.NewGuid(), CancellationToken.None));
        Assert.Equal(409, (int)wrongLease.Status);
        var missing = await Assert.ThrowsAsync<KilnApiException>(() => held.Worker.PublishAsync(999_999_999, held.Assignment.LeaseToken, CancellationToken.None));
        Assert.Equal(404, (int)missing.Status);

        // Another worker, holding the publish job of another project, cannot use its lease on this one.
        var other = await farm.ClaimPublishAsync("apt-fence-other", Suite, "apt/publish", await farm.DebAsync("other", "1"));
        var crossed = await Assert.ThrowsAsync<KilnApiException>(() => other.Worker.PublishAsync(held.Assignment.WorkRequestId, other.Assignment.LeaseToken, CancellationToken.None));
        Assert.Equal(409, (int)crossed.Status);
        Assert.Empty((await server.Client.GetFromJsonAsync<List<RepositoryView>>("/api/v1/projects/apt-fence/repositories"))!);
    }

    [Fact]
    public async Task A_private_projects_repository_and_key_are_404_to_anonymous_readers_and_served_to_a_token_as_basic_auth()
    {
        await using var farm = new RepositoryFarm(server);
        using (var create = await server.Client.PutAsJsonAsync("/api/v1/projects/apt-private", new ProjectSettings(1, 0, null)))
        {
            Assert.Equal(HttpStatusCode.OK, create.StatusCode);
        }
        await PrivateAsync("apt-private");
        await (await farm.ClaimPublishAsync("apt-private", Suite, "apt/publish", await farm.DebAsync("secretive", "1"))).PublishAsync();
        using var anonymous = server.AnonymousClient();
        foreach (var path in new[] { "/repos/apt-private/bookworm/dists/bookworm/InRelease", "/repos/apt-private/key.asc", "/api/v1/projects/apt-private/repositories" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        using var basic = server.AnonymousClient();
        basic.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"apt:{server.AdminToken}")));
        using var served = await basic.GetAsync("/repos/apt-private/bookworm/dists/bookworm/InRelease");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task Paths_that_leave_the_snapshot_or_follow_a_symbolic_link_are_404()
    {
        await using var farm = new RepositoryFarm(server);
        await (await farm.ClaimPublishAsync("apt-paths", Suite, "apt/publish", await farm.DebAsync("pathy", "1"))).PublishAsync();
        var current = Path.Combine(server.DataDirectory, "repos", "apt-paths", "bookworm", "current");
        File.CreateSymbolicLink(Path.Combine(current, "dists", "escape"), "/etc");
        using var anonymous = server.AnonymousClient();
        foreach (var path in new[] { "dists/escape/passwd", "dists/%2e%2e/%2e%2e/current/dists/bookworm/Release", "dists/bookworm", "dists//bookworm/Release", "nothing" })
        {
            using var response = await anonymous.GetAsync($"/repos/apt-paths/bookworm/{path}");
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{path}: {response.StatusCode}");
        }
    }

    private async Task PrivateAsync(string project)
    {
        await using var conn = new Npgsql.NpgsqlConnection(server.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("UPDATE projects SET visibility = 'private' WHERE name = @p", conn);
        cmd.Parameters.AddWithValue("p", project);
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
    }

    private static List<(string Sha256, long Size, string Path)> Sha256Lines(string release)
    {
        var lines = release.Split('\n');
        return [.. lines.SkipWhile(l => l != "SHA256:").Skip(1).TakeWhile(l => l.StartsWith(' '))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(p => (p[0], long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture), p[2]))];
    }
}
