using System.Text.RegularExpressions;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>The newcomer's path: <c>kiln up</c>, then the README's tour, exactly as written.</summary>
public sealed partial class KilnUpTests(LocalFarm farm) : IClassFixture<LocalFarm>
{
    [Fact]
    public async Task A_second_kiln_up_on_the_same_data_directory_is_refused_and_the_first_farm_keeps_working()
    {
        var clientJson = Path.Combine(farm.Directory, ".kiln", "client.json");
        var before = await File.ReadAllBytesAsync(clientJson);

        await using var second = KilnProcess.Start(["up", "--urls", $"http://127.0.0.1:{Farm.FreePort()}", "--workers", "1"], LocalFarm.UseLocalConfig, farm.Directory);
        await second.WaitForExitAsync(TimeSpan.FromMinutes(2));

        Assert.True(second.ExitCode == 1, second.Output);
        var line = Assert.Single(second.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"process {farm.Up.Id}", line, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(clientJson));

        // The first farm's server and workers are untouched: they still run a job.
        var submitted = await farm.Client.SubmitAsync(new WorkflowDocument { Name = "still-alive", Jobs = new() { ["job"] = new JobDocument { Run = "echo alive" } } }, CancellationToken.None);
        WorkflowView? view = null;
        await Eventually.TrueAsync(async () => (view = await farm.Client.GetWorkflowAsync(submitted.Id, CancellationToken.None)).State != "running",
            Farm.Patience, "the first farm to run a job", () => farm.Up.Output);
        Assert.Equal("succeeded", view!.State);
    }

    [Fact]
    public async Task The_readme_tour_runs_as_written()
    {
        // Something ran before (as 'kiln up --demo' does), so ids in the tour cannot be counted on.
        var earlier = await farm.Client.SubmitAsync(new WorkflowDocument { Name = "earlier", Jobs = new() { ["job"] = new JobDocument { Run = "true" } } }, CancellationToken.None);

        foreach (var line in TourCommands())
        {
            var args = ShellWords(line);
            if (args.Contains("-f"))
            {
                // A follow runs until Ctrl-C, as in a terminal: once it has printed something, stop it.
                await using var follower = KilnProcess.Start(args, LocalFarm.UseLocalConfig, farm.Directory);
                await Eventually.TrueAsync(() => follower.HasExited || follower.Output.Length > 0, Farm.Patience, $"'{line}' to print", () => follower.Output);
                Assert.False(follower.HasExited, $"{line}\n{follower.Output}");
                follower.Signal(2);
                await follower.WaitForExitAsync(TimeSpan.FromSeconds(30));
                continue;
            }
            var (exit, output) = await farm.RunAsync([.. args]);
            // The tour says so: flaky.yaml fails on its first attempt, so its watch exits 1.
            var expected = line.Contains("flaky.yaml --watch", StringComparison.Ordinal) ? 1 : 0;
            Assert.True(exit == expected, $"'{line}' exited {exit}, expected {expected}:\n{output}");
        }

        var workflows = (await farm.Client.ListWorkflowsAsync(null, null, 50, null, CancellationToken.None)).Items.Where(w => w.Id > earlier.Id).ToList();
        Assert.Equal("succeeded", workflows.Single(w => w.Name == "hello-deb").State);
        Assert.Equal("cancelled", workflows.Single(w => w.Name == "sleepy").State);
        Assert.Equal("succeeded", workflows.Single(w => w.Name == "flaky").State);
        Assert.Equal(1, (await farm.Client.GetWorkflowAsync(earlier.Id, CancellationToken.None)).Jobs!.Single().Attempt);
        var downloaded = Path.Combine(farm.Directory, "out");
        Assert.NotEmpty(Directory.EnumerateFiles(downloaded, "*.deb", SearchOption.AllDirectories));
        Assert.True(File.Exists(Path.Combine(downloaded, "repo", "Packages")), string.Join('\n', Directory.EnumerateFiles(downloaded, "*", SearchOption.AllDirectories)));
    }

    /// <summary>The commands of the README's tour block, without './kiln' and without comments.</summary>
    private static List<string> TourCommands()
    {
        var readme = File.ReadAllText(Path.Combine(KilnProcess.RepositoryRoot, "README.md"));
        var tour = readme[readme.IndexOf("## A 5-minute tour", StringComparison.Ordinal)..];
        var block = TourBlock().Match(tour);
        Assert.True(block.Success, "README.md's tour has a ```sh block");
        var commands = block.Groups[1].Value.Split('\n')
            .Select(l => l.Split(" #", 2)[0].Trim())
            .Where(l => l.Length > 0)
            .ToList();
        Assert.All(commands, c => Assert.StartsWith("./kiln ", c, StringComparison.Ordinal));
        Assert.True(commands.Count >= 10, string.Join('\n', commands));
        return [.. commands.Select(c => c["./kiln ".Length..])];
    }

    private static List<string> ShellWords(string line) =>
        [.. ShellWord().Matches(line).Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Success ? m.Groups[2].Value : m.Value)];

    [GeneratedRegex(@"```sh\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex TourBlock();

    [GeneratedRegex(@"'([^']*)'|""([^""]*)""|\S+")]
    private static partial Regex ShellWord();
}
