using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Xml.Linq;
using Kiln.Contracts;

namespace Kiln.Engine.Tests;

/// <summary>rpm/publish over the real API: a tiny real RPM built with rpmbuild, published with createrepo_c, repomd.xml signed with the project's key.</summary>
public sealed class RpmRepositoryTests(RepositoryServerFixture server) : IClassFixture<RepositoryServerFixture>
{
    [Fact]
    public async Task A_published_rpm_is_listed_by_createrepo_metadata_whose_repomd_signature_verifies_with_the_served_key()
    {
        await using var farm = new RepositoryFarm(server);
        var rpm = await farm.RpmAsync("kilnhello", "1.0");
        var published = await (await farm.ClaimPublishAsync("rpm-signed", "fedora-40", "rpm/publish", rpm)).PublishAsync();
        Assert.Equal(1, published.Added);
        Assert.Contains("repo_gpgcheck=1", published.SourcesLine, StringComparison.Ordinal);
        Assert.Contains($"gpgkey={server.Host.Url}/repos/rpm-signed/key.asc", published.SourcesLine, StringComparison.Ordinal);

        using var anonymous = server.AnonymousClient();
        var home = Directory.CreateDirectory(Path.Combine(farm.Scratch, "verify-gnupg")).FullName;
        var key = await farm.FetchAsync(anonymous, "/repos/rpm-signed/key.asc");
        var repomd = await farm.FetchAsync(anonymous, "/repos/rpm-signed/fedora-40/repodata/repomd.xml");
        var signature = await farm.FetchAsync(anonymous, "/repos/rpm-signed/fedora-40/repodata/repomd.xml.asc");
        await RepositoryFarm.RunAsync("gpg", "--homedir", home, "--batch", "--import", key);
        var (verified, said) = await RepositoryFarm.TryRunAsync("gpg", "--homedir", home, "--batch", "--verify", signature, repomd);
        await RepositoryFarm.TryRunAsync("gpgconf", "--homedir", home, "--kill", "gpg-agent");
        Assert.True(verified == 0, said);

        XNamespace repo = "http://linux.duke.edu/metadata/repo";
        var primary = XDocument.Load(repomd).Root!.Elements(repo + "data").Single(d => (string?)d.Attribute("type") == "primary")
            .Element(repo + "location")!.Attribute("href")!.Value;
        await using var compressed = await anonymous.GetStreamAsync($"/repos/rpm-signed/fedora-40/{primary}");
        using var text = new StreamReader(new GZipStream(compressed, CompressionMode.Decompress));
        var primaryXml = await text.ReadToEndAsync();
        Assert.Contains("<name>kilnhello</name>", primaryXml, StringComparison.Ordinal);
        Assert.Contains("Packages/k/kilnhello-1.0-1.noarch.rpm", primaryXml, StringComparison.Ordinal);
        Assert.Equal(await File.ReadAllBytesAsync(rpm), await anonymous.GetByteArrayAsync("/repos/rpm-signed/fedora-40/Packages/k/kilnhello-1.0-1.noarch.rpm"));

        // A second package is added incrementally; the first is still listed.
        var second = await (await farm.ClaimPublishAsync("rpm-signed", "fedora-40", "rpm/publish", await farm.RpmAsync("kilnother", "2.0"))).PublishAsync();
        Assert.Equal((1, published.Snapshot + 1), (second.Added, second.Snapshot));
        var detail = (await server.Client.GetFromJsonAsync<RepositoryDetail>("/api/v1/projects/rpm-signed/repositories/fedora-40"))!;
        Assert.Equal(["Packages/k/kilnhello-1.0-1.noarch.rpm", "Packages/k/kilnother-2.0-1.noarch.rpm"], detail.Packages.Select(p => p.Filename));
        Assert.Equal("rpm", detail.Repository.Format);
    }

    [Fact]
    public async Task An_rpm_publish_to_a_suite_that_is_an_apt_repository_is_refused()
    {
        await using var farm = new RepositoryFarm(server);
        await (await farm.ClaimPublishAsync("rpm-mixed", "stable", "apt/publish", await farm.DebAsync("deb-first", "1"))).PublishAsync();
        var held = await farm.ClaimPublishAsync("rpm-mixed", "stable", "rpm/publish", await farm.RpmAsync("rpmsecond", "1"));
        var refused = await Assert.ThrowsAsync<KilnApiException>(held.PublishAsync);
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        Assert.Contains("APT repository", refused.Message, StringComparison.Ordinal);
    }
}
