using System.Diagnostics;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// examples/rpm-hello.yaml as a user runs it: a source RPM made in a clean environment, rebuilt by the
/// built-in rpm/rpmbuild kind (offline), published by rpm/publish with createrepo_c; the served
/// repomd.xml's signature then verifies with gpg against the project's served key, and the package is in
/// the repository's primary metadata.
/// </summary>
public sealed class RpmPackageEndToEndTests
{
    [Fact]
    public async Task The_rpm_example_builds_with_rpmbuild_and_publishes_a_repository_whose_repomd_signature_verifies()
    {
        await using var farm = await Farm.StartAsync(nameof(RpmPackageEndToEndTests), leaseSeconds: 30);
        farm.StartWorker("e2e-rpm", slots: 1);
        var made = await FarmEnvironments.EnsureAsync(farm, "debian/bookworm-amd64", FarmEnvironments.Buildd);

        var (exit, output) = await KilnProcess.RunAsync("submit", "examples/rpm-hello.yaml", "--watch", "--json", "--server", farm.Url);
        var workflow = JsonSerializer.Deserialize<WorkflowView>(output[output.IndexOf('{', StringComparison.Ordinal)..], KilnClient.Json)!;
        var logs = new List<string>();
        foreach (var failed in workflow.Jobs!.Where(j => j.State == "failed"))
        {
            logs.Add($"--- {failed.Name}:\n{await farm.LogAsync(failed.Id)}");
        }
        Assert.True(exit == 0 && workflow.State == "succeeded", $"environment {made}; exit {exit}:\n{string.Join('\n', logs)}\n{output}\n{farm.Diagnostics()}");

        var build = await farm.Client.GetWorkRequestAsync(workflow.Jobs!.Single(j => j.Name == "build").Id, CancellationToken.None);
        Assert.Equal("rpm/rpmbuild", build.Execution!.Uses);
        Assert.Equal("kiln-hello", build.Result!.Result.GetProperty("package").GetString());

        using var http = new HttpClient { BaseAddress = new Uri(farm.Url) };
        var dir = Directory.CreateTempSubdirectory("kiln-rpm-verify-").FullName;
        try
        {
            var repomd = Path.Combine(dir, "repomd.xml");
            await File.WriteAllBytesAsync(repomd, await http.GetByteArrayAsync("/repos/examples/rpm-demo/repodata/repomd.xml"));
            await File.WriteAllBytesAsync(repomd + ".asc", await http.GetByteArrayAsync("/repos/examples/rpm-demo/repodata/repomd.xml.asc"));
            await File.WriteAllBytesAsync(Path.Combine(dir, "key.asc"), await http.GetByteArrayAsync("/repos/examples/key.asc"));
            var home = Path.Combine(dir, "gnupg");
            Directory.CreateDirectory(home);
            Assert.Equal(0, Gpg(home, "--import", Path.Combine(dir, "key.asc")).Exit);
            var (verified, said) = Gpg(home, "--verify", repomd + ".asc", repomd);
            Assert.True(verified == 0, said);
            Assert.Contains("Good signature", said, StringComparison.Ordinal);
            var index = await File.ReadAllTextAsync(repomd);
            Assert.Contains("type=\"primary\"", index, StringComparison.Ordinal);
            var href = System.Text.RegularExpressions.Regex.Match(index, "<location href=\"(repodata/[^\"]*primary\\.xml[^\"]*)\"").Groups[1].Value;
            Assert.NotEmpty(href);
            var primary = await http.GetByteArrayAsync($"/repos/examples/rpm-demo/{href}");
            Assert.NotEmpty(primary);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (int Exit, string Output) Gpg(string home, params string[] args)
    {
        var psi = new ProcessStartInfo("gpg", ["--homedir", home, "--batch", .. args]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var gpg = Process.Start(psi)!;
        var output = gpg.StandardError.ReadToEnd() + gpg.StandardOutput.ReadToEnd();
        gpg.WaitForExit();
        return (gpg.ExitCode, output);
    }
}
