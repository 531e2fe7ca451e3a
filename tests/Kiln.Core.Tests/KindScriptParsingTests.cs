using System.Diagnostics;
using System.Text.Json;
using Kiln.Core.Kinds;

namespace Kiln.Core.Tests;

/// <summary>
/// The kind scripts read what their tools report. Their parse functions run here, as bash, on real
/// output (hello 2.10-3's sbuild log and .changes, lintian's tags for it, an autopkgtest summary).
/// </summary>
public sealed class KindScriptParsingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    /// <summary>Loads the kind's script (helpers and functions, without running it) and calls <paramref name="call"/>; returns stdout.</summary>
    private static string Run(string kind, string call)
    {
        var script = Path.Combine(Path.GetTempPath(), $"kiln-kind-{Guid.NewGuid():N}.sh");
        File.WriteAllText(script, BuiltInKinds.Find(kind)!.Script);
        try
        {
            var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "-e", "-o", "pipefail", "-c", $"KILN_KIND_FUNCTIONS_ONLY=1; . \"$0\"; {call}", script })
            {
                start.ArgumentList.Add(a);
            }
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"bash exited {process.ExitCode}: {stderr}");
            return stdout.Result;
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Fact]
    public void A_successful_sbuild_log_gives_package_version_architecture_times_and_the_changes_files_with_checksums()
    {
        using var result = JsonDocument.Parse(Run("debian/sbuild", $"sbuild_result_json '{Fixture("sbuild-hello-successful.build")}' '{Fixture("sbuild-hello.changes")}'"));
        var r = result.RootElement;
        Assert.Equal("successful", r.GetProperty("status").GetString());
        Assert.Equal("hello", r.GetProperty("package").GetString());
        Assert.Equal("2.10-3", r.GetProperty("version").GetString());
        Assert.Equal("amd64", r.GetProperty("architecture").GetString());
        Assert.Equal(32, r.GetProperty("buildTime").GetInt32());
        Assert.Equal(10, r.GetProperty("installTime").GetInt32());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("failStage").ValueKind);
        var deb = r.GetProperty("files").EnumerateArray().Single(f => f.GetProperty("name").GetString() == "hello_2.10-3_amd64.deb");
        Assert.Equal(53076, deb.GetProperty("size").GetInt64());
        Assert.Equal("3833e140df6c4c6d1503a79981792d0525a7a510d42d5cd0bf71384f5e994164", deb.GetProperty("sha256").GetString());
        Assert.Contains(r.GetProperty("files").EnumerateArray(), f => f.GetProperty("name").GetString() == "sbuild-hello.changes");
    }

    [Fact]
    public void A_skipped_sbuild_log_reports_skipped_with_its_fail_stage_and_the_verdict_fails_it()
    {
        using var result = JsonDocument.Parse(Run("debian/sbuild", $"sbuild_result_json '{Fixture("sbuild-hello-skipped.build")}' ''"));
        var r = result.RootElement;
        Assert.Equal("skipped", r.GetProperty("status").GetString());
        Assert.Equal("arch-check", r.GetProperty("failStage").GetString());
        Assert.Equal(0, r.GetProperty("files").GetArrayLength());
        Assert.Equal("sbuild reported Status: skipped (fail stage: arch-check)", ResultJudgement.FailureOf("debian/sbuild", r, false));
    }

    [Fact]
    public void Lintian_tags_are_grouped_by_severity_with_package_and_info_and_counted()
    {
        using var result = JsonDocument.Parse(Run("debian/lintian", $"lintian_result_json '{Fixture("lintian-hello.txt")}' error"));
        var r = result.RootElement;
        Assert.Equal("passed", r.GetProperty("status").GetString());
        var counts = r.GetProperty("counts");
        Assert.Equal(0, counts.GetProperty("error").GetInt32());
        Assert.Equal(2, counts.GetProperty("warning").GetInt32());
        Assert.Equal(2, counts.GetProperty("info").GetInt32());
        Assert.Equal(5, counts.GetProperty("pedantic").GetInt32());
        var changes = r.GetProperty("tags").GetProperty("warning").EnumerateArray().Single(t => t.GetProperty("type").GetString() == "changes");
        Assert.Equal("hello", changes.GetProperty("package").GetString());
        Assert.Equal("distribution-and-changes-mismatch", changes.GetProperty("tag").GetString());
        Assert.Equal("bookworm unstable", changes.GetProperty("info").GetString());
    }

    [Theory]
    [InlineData("warning", "failed")]
    [InlineData("pedantic", "failed")]
    [InlineData("error", "passed")]
    [InlineData("none", "passed")]
    public void Lintian_fails_when_a_tag_at_or_above_the_threshold_appears(string failOn, string status)
    {
        using var result = JsonDocument.Parse(Run("debian/lintian", $"lintian_result_json '{Fixture("lintian-hello.txt")}' {failOn}"));
        Assert.Equal(status, result.RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public void Lintian_output_with_quotes_and_backslashes_stays_valid_json()
    {
        var text = Path.Combine(Path.GetTempPath(), $"lintian-{Guid.NewGuid():N}.txt");
        File.WriteAllText(text, "E: foo: weird-tag has \"quotes\" and a \\ backslash\tand a tab\n");
        try
        {
            using var result = JsonDocument.Parse(Run("debian/lintian", $"lintian_result_json '{text}' error"));
            var tag = Assert.Single(result.RootElement.GetProperty("tags").GetProperty("error").EnumerateArray());
            Assert.Equal("has \"quotes\" and a \\ backslash\tand a tab", tag.GetProperty("info").GetString());
            Assert.Equal("failed", result.RootElement.GetProperty("status").GetString());
        }
        finally
        {
            File.Delete(text);
        }
    }

    [Fact]
    public void The_autopkgtest_summary_gives_each_test_its_outcome_and_details()
    {
        using var tests = JsonDocument.Parse(Run("debian/autopkgtest", $"autopkgtest_tests_json '{Fixture("autopkgtest-summary.txt")}'"));
        var byName = ResultJudgement.Tests(JsonDocument.Parse($"{{\"tests\":{tests.RootElement.GetRawText()}}}").RootElement);
        Assert.Equal(new Dictionary<string, string> { ["command1"] = "PASS", ["install-check"] = "FAIL", ["needs-root"] = "SKIP", ["flaky-one"] = "FLAKY" }, byName);
        var skip = tests.RootElement.EnumerateArray().Single(t => t.GetProperty("name").GetString() == "needs-root");
        Assert.Equal("Test requires root \"privileges\"", skip.GetProperty("details").GetString());
    }

    [Theory]
    [InlineData(0, "passed")]
    [InlineData(2, "passed")]
    [InlineData(8, "neutral")]
    [InlineData(4, "failed")]
    [InlineData(16, "error")]
    public void Autopkgtest_exit_codes_map_to_a_status(int code, string status) =>
        Assert.Equal(status + "\n", Run("debian/autopkgtest", $"autopkgtest_status {code}"));

    [Fact]
    public void The_json_helpers_escape_what_a_tool_may_print()
    {
        Assert.Equal("\"a\\\"b\\\\c\\nd\\te\"", Run("debian/sbuild", "kiln_json_str \"$(printf 'a\"b\\\\c\\nd\\te\\001')\""));
        Assert.Equal("null", Run("debian/sbuild", "kiln_json_num 12x"));
        Assert.Equal("8", Run("debian/sbuild", "kiln_json_num 008"));
    }
}
