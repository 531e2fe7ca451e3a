using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>The operator commands through the real <c>kiln</c> executable: notices and shell completion.</summary>
public sealed partial class OperatorCliTests(IsolatedServerFixture server) : IClassFixture<IsolatedServerFixture>
{
    [Fact]
    public async Task A_posted_notice_is_printed_once_on_stderr_by_other_commands_and_json_output_stays_clean()
    {
        var url = server.Host.Url;
        var posted = await RunAsync("notice", "post", "--severity", "critical", "--text", "publishing is down — we are on it", "--until", "2h", "--json", "--server", url);
        Assert.True(posted.Exit == 0, posted.Stderr);
        var notice = JsonSerializer.Deserialize<NoticeView>(posted.Stdout, KilnClient.Json)!;
        Assert.Equal(("critical", "publishing is down — we are on it"), (notice.Severity, notice.Text));
        Assert.NotNull(notice.EndsAt);

        // `list` pages through workflows and `workers` makes its own calls: the notice is still printed once.
        var list = await RunAsync("list", "--json", "--server", url);
        Assert.True(list.Exit == 0, list.Stderr);
        JsonDocument.Parse(list.Stdout).Dispose();
        Assert.Equal(1, Regex.Count(list.Stderr, "kiln: notice: critical: publishing is down — we are on it"));
        Assert.DoesNotContain("notice", list.Stdout, StringComparison.Ordinal);

        var listed = await RunAsync("notice", "list", "--server", url);
        Assert.True(listed.Exit == 0, listed.Stderr);
        Assert.Contains("publishing is down", listed.Stdout, StringComparison.Ordinal);

        var cleared = await RunAsync("notice", "clear", notice.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--server", url);
        Assert.True(cleared.Exit == 0, cleared.Stderr);
        var after = await RunAsync("workers", "--server", url);
        Assert.True(after.Exit == 0, after.Stderr);
        Assert.DoesNotContain("notice", after.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_notice_commands_are_one_line_errors_with_usage_exit_codes()
    {
        var url = server.Host.Url;
        var neither = await RunAsync("notice", "clear", "--server", url);
        Assert.Equal(2, neither.Exit);
        Assert.Contains("--all", neither.Stderr, StringComparison.Ordinal);

        var badTime = await RunAsync("notice", "post", "--text", "x", "--until", "tomorrowish", "--server", url);
        Assert.Equal(2, badTime.Exit);
        Assert.Contains("--until", badTime.Stderr, StringComparison.Ordinal);

        var tooLong = await RunAsync("notice", "post", "--text", new string('x', 501), "--server", url);
        Assert.Equal(1, tooLong.Exit);
        Assert.Contains("text", tooLong.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", tooLong.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_bash_completion_script_names_every_subcommand_and_completes_them_in_bash()
    {
        var help = await RunAsync("--help");
        var commands = CommandsOf(help.Stdout);
        Assert.Contains("notice", commands);
        Assert.Contains("completion", commands);
        var noticeHelp = await RunAsync("notice", "--help");
        Assert.Equal(["clear", "list", "post"], CommandsOf(noticeHelp.Stdout).Order(StringComparer.Ordinal));

        var script = await RunAsync("completion", "bash");
        Assert.True(script.Exit == 0, script.Stderr);
        Assert.All(commands, c => Assert.Contains($"'kiln {c}'", script.Stdout, StringComparison.Ordinal));

        // Run the script in a real bash and ask it what follows `kiln ` and `kiln notice post --severity `.
        var file = Path.Combine(Path.GetTempPath(), $"kiln-completion-{Guid.NewGuid():N}.bash");
        await File.WriteAllTextAsync(file, script.Stdout);
        try
        {
            var top = await BashCompleteAsync(file, "kiln", "");
            Assert.Equal(commands.Order(StringComparer.Ordinal), top.Where(w => !w.StartsWith('-')).Order(StringComparer.Ordinal));
            Assert.Equal(["critical", "info", "warning"], (await BashCompleteAsync(file, "kiln", "notice", "post", "--severity", "")).Order(StringComparer.Ordinal));
            Assert.Contains("--metrics-detailed", await BashCompleteAsync(file, "kiln", "server", "--"));
        }
        finally
        {
            File.Delete(file);
        }

        foreach (var shell in new[] { "zsh", "fish" })
        {
            var other = await RunAsync("completion", shell);
            Assert.True(other.Exit == 0, other.Stderr);
            Assert.All(commands, c => Assert.Contains($"'kiln {c}'", other.Stdout, StringComparison.Ordinal));
        }
        // A usage error (exit 2 once the CLI defects of issue 10 are fixed; non-zero either way).
        Assert.NotEqual(0, (await RunAsync("completion", "powershell")).Exit);
    }

    /// <summary>The names in the "Commands:" section of a help text.</summary>
    private static List<string> CommandsOf(string help) =>
        [.. help.Split('\n').SkipWhile(l => !l.StartsWith("Commands:", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal))
            .Select(l => CommandName().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value)];

    [GeneratedRegex(@"^  ([a-z][a-z-]*)\b")]
    private static partial Regex CommandName();

    private static async Task<string[]> BashCompleteAsync(string script, params string[] words)
    {
        var quoted = string.Join(' ', words.Select(w => $"'{w}'"));
        var psi = new ProcessStartInfo("bash", ["--norc", "-c", $"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD={words.Length - 1}; _kiln; printf '%s\\n' \"${{COMPREPLY[@]}}\""])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args) => KilnProcess.RunSplitAsync(args);
}
