using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// The packager's path, end to end with real processes and Debian's own tools: an environment made by
/// Kiln (mmdebstrap, cached between runs — see <see cref="FarmEnvironments"/>), GNU hello's Debian source
/// package built in it by sbuild, published to the project's signed APT repository, then installed with
/// apt-get inside a fresh copy of the environment from that repository, its signature checked
/// (signed-by the project's key, never trusted=yes), and run.
/// </summary>
public sealed class DebianPackageEndToEndTests
{
    private const string Project = "debian-e2e";

    [Fact]
    public async Task Hello_is_built_in_a_clean_environment_published_signed_and_installs_with_apt_from_the_farm()
    {
        await using var farm = await Farm.StartAsync(nameof(DebianPackageEndToEndTests), leaseSeconds: 30);
        farm.StartWorker("e2e-debian", slots: 1);
        var made = await FarmEnvironments.EnsureAsync(farm, "debian/bookworm-amd64", FarmEnvironments.Buildd);

        var file = Path.Combine(farm.Directory, "hello.yaml");
        await File.WriteAllTextAsync(file, Workflow);
        var (exit, output) = await KilnProcess.RunAsync("submit", file, "--watch", "--json", "--server", farm.Url);
        var workflow = JsonSerializer.Deserialize<WorkflowView>(output[output.IndexOf('{', StringComparison.Ordinal)..], KilnClient.Json)!;
        var failedLogs = new List<string>();
        foreach (var failed in workflow.Jobs!.Where(j => j.State == "failed"))
        {
            failedLogs.Add($"--- {failed.Name}:\n{await farm.LogAsync(failed.Id)}");
        }
        Assert.True(exit == 0 && workflow.State == "succeeded",
            $"environment {made}; kiln submit --watch exited {exit}:\n{string.Join('\n', failedLogs)}\n{output}\n{farm.Diagnostics()}");

        // What sbuild reported, structured: the package, its version and architecture, files with checksums.
        var build = workflow.Jobs!.Single(j => j.Name == "build").Id;
        var view = await farm.Client.GetWorkRequestAsync(build, CancellationToken.None);
        Assert.Equal("debian/sbuild", view.Execution!.Uses);
        Assert.Equal("debian/bookworm-amd64", view.Execution.Environment!.Name);
        var r = view.Result!.Result;
        Assert.Equal("successful", r.GetProperty("status").GetString());
        Assert.Equal("hello", r.GetProperty("package").GetString());
        Assert.Equal("2.10-3", r.GetProperty("version").GetString());
        Assert.Contains(r.GetProperty("files").EnumerateArray(), f => f.GetProperty("name").GetString() == "hello_2.10-3_amd64.deb"
            && f.GetProperty("sha256").GetString()!.Length == 64);

        // The repository as a user sees it, and its sources.list line, as docs/packaging.md says.
        var repository = (await farm.Client.GetRepositoryAsync(Project, "bookworm", null, null, CancellationToken.None)).Repository;
        Assert.Equal($"deb [signed-by=/etc/apt/keyrings/kiln-{Project}.gpg] {farm.Url}/repos/{Project}/bookworm bookworm main", repository.SourcesLine);

        // The install job ran hello from the package apt-get verified and installed.
        var install = workflow.Jobs!.Single(j => j.Name == "install").Id;
        var log = await farm.LogAsync(install);
        Assert.Contains("Hello, world!", log, StringComparison.Ordinal);
        Assert.Contains("Setting up hello (2.10-3)", log, StringComparison.Ordinal);
        Assert.DoesNotContain("trusted=yes", log, StringComparison.Ordinal);
    }

    /// <summary>
    /// source (host: Debian's files, checked against the .dsc) → build (debian/sbuild in the environment)
    /// → publish (apt/publish) → key (host: the project's public key, as an admin hands it out) →
    /// install (a fresh copy of the environment, networked: apt-get from the farm's repository only).
    /// </summary>
    private const string Workflow = $$"""
        name: hello-e2e
        project: {{Project}}
        jobs:
          source:
            run: |
              mkdir -p source && cd source
              for f in hello_2.10-3.dsc hello_2.10.orig.tar.gz hello_2.10.orig.tar.gz.asc hello_2.10-3.debian.tar.xz; do
                curl -fsS -O "http://deb.debian.org/debian/pool/main/h/hello/$f"
              done
              dpkg-source --no-copy -x hello_2.10-3.dsc "$(mktemp -d)/hello" >/dev/null
            outputs: ["source/**"]
          build:
            needs: [source]
            uses: debian/sbuild
            environment: debian/bookworm-amd64
            with: {suite: bookworm, arch: amd64, arch-all: "false"}
            timeout: 1800
          publish:
            needs: [source, build]
            uses: apt/publish
            with: {suite: bookworm}
          key:
            needs: [publish]
            run: curl -fsS -o kiln.asc "$KILN_SERVER_URL/repos/$KILN_PROJECT/key.asc"
            env: {KILN_PROJECT: {{Project}}}
            outputs: [kiln.asc]
          install:
            needs: [key]
            environment: debian/bookworm-amd64
            network: true
            run: |
              install -d -m 0755 /etc/apt/keyrings
              cp inputs/key/kiln.asc /etc/apt/keyrings/kiln-{{Project}}.asc
              echo "deb [signed-by=/etc/apt/keyrings/kiln-{{Project}}.asc] $KILN_SERVER_URL/repos/{{Project}}/bookworm bookworm main" > /etc/apt/sources.list.d/kiln.list
              cat /etc/apt/sources.list.d/kiln.list
              # only the farm's repository: its InRelease must verify against the project's key
              apt-get update -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/kiln.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
              apt-get install -y --no-install-recommends hello
              hello
        """;
}
