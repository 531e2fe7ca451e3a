using System.Diagnostics;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// <c>kiln build</c> as a packager runs it: a real .dsc (dpkg-source -b) is checked, uploaded and
/// built by the project's pipeline; a file the .dsc lists but that is not beside it is one line
/// naming the file and a non-zero exit, before anything is sent.
/// </summary>
public sealed class BuildCliTests
{
    [Fact]
    public async Task Kiln_build_uploads_a_dsc_and_prints_the_workflow_and_a_missing_file_is_one_line_naming_it()
    {
        await using var farm = await Farm.StartAsync(nameof(BuildCliTests));
        var rootfs = Path.Combine(farm.Directory, "rootfs.tar");
        await File.WriteAllTextAsync(rootfs, "a stand-in root filesystem; no job runs in it here");
        var (imported, importOut, importErr) = await KilnProcess.RunSplitAsync(["env", "import", "debian/bookworm-amd64", rootfs, "--server", farm.Url]);
        Assert.True(imported == 0, importOut + importErr);

        var dsc = MakeDsc(farm.Directory, "kiln-e2e-build", "1.0");
        var (exit, stdout, stderr) = await KilnProcess.RunSplitAsync(["build", dsc, "--project", "e2e-build", "--server", farm.Url]);
        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("kiln-e2e-build 1.0", stdout, StringComparison.Ordinal);
        var workflowId = long.Parse(System.Text.RegularExpressions.Regex.Match(stdout, @"kiln watch (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var workflow = await farm.Client.GetWorkflowAsync(workflowId, CancellationToken.None);
        Assert.Equal(["build[amd64]", "lintian", "publish", "source"], workflow.Jobs!.Select(j => j.Name).Order(StringComparer.Ordinal));

        // Again, as JSON: the same upload is the same workflow.
        (exit, stdout, stderr) = await KilnProcess.RunSplitAsync(["build", dsc, "--project", "e2e-build", "--server", farm.Url, "--json"]);
        Assert.True(exit == 0, stdout + stderr);
        var again = JsonSerializer.Deserialize<SubmitSourceResponse>(stdout, KilnClient.Json)!;
        Assert.Equal((workflowId, false), (again.WorkflowId, again.Created));

        File.Delete(Path.Combine(farm.Directory, "kiln-e2e-build_1.0.tar.xz"));
        (exit, stdout, stderr) = await KilnProcess.RunSplitAsync(["build", dsc, "--project", "e2e-build", "--server", farm.Url]);
        Assert.True(exit == 1, stdout + stderr);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("kiln build:", line, StringComparison.Ordinal);
        Assert.Contains("kiln-e2e-build_1.0.tar.xz", line, StringComparison.Ordinal);
    }

    private static string MakeDsc(string directory, string package, string version)
    {
        var root = Path.Combine(directory, $"{package}-{version}");
        Directory.CreateDirectory(Path.Combine(root, "debian", "source"));
        File.WriteAllText(Path.Combine(root, "debian", "source", "format"), "3.0 (native)\n");
        File.WriteAllText(Path.Combine(root, "debian", "changelog"), $"{package} ({version}) unstable; urgency=low\n\n  * Test package.\n\n -- Kiln Tests <tests@kiln.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n");
        File.WriteAllText(Path.Combine(root, "debian", "control"),
            $"Source: {package}\nMaintainer: Kiln Tests <tests@kiln.invalid>\n\nPackage: {package}\nArchitecture: all\nDescription: test\n a test package\n");
        File.WriteAllText(Path.Combine(root, "debian", "rules"), "#!/usr/bin/make -f\n%:\n\tdh $@\n");
        var start = new ProcessStartInfo("dpkg-source") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-b");
        start.ArgumentList.Add($"{package}-{version}");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error + output.Result);
        return Path.Combine(directory, $"{package}_{version}.dsc");
    }
}
