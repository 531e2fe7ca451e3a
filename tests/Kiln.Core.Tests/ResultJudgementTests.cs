using System.Text.Json;
using Kiln.Core.Kinds;

namespace Kiln.Core.Tests;

/// <summary>The verdict on a structured result, and the comparison of autopkgtest runs.</summary>
public sealed class ResultJudgementTests
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    [Theory]
    [InlineData("successful")]
    [InlineData("passed")]
    [InlineData("neutral")]
    public void A_passing_status_fails_nothing(string status) =>
        Assert.Null(ResultJudgement.FailureOf("debian/sbuild", Json($"{{\"status\":\"{status}\"}}"), false));

    [Fact]
    public void A_result_without_a_status_fails_nothing() =>
        Assert.Null(ResultJudgement.FailureOf("", Json("{\"package\":\"hello\"}"), true));

    [Fact]
    public void Any_other_status_fails_naming_the_tool_and_status() =>
        Assert.Equal("lintian reported Status: failed", ResultJudgement.FailureOf("debian/lintian", Json("{\"status\":\"failed\"}"), false));

    [Fact]
    public void Regressions_fail_only_when_the_job_asks_for_it()
    {
        var result = Json("{\"status\":\"passed\",\"regressions\":[\"test-a\",\"test-b\"]}");
        Assert.Null(ResultJudgement.FailureOf("debian/autopkgtest", result, false));
        Assert.Equal("2 regressions: test-a, test-b", ResultJudgement.FailureOf("debian/autopkgtest", result, true));
    }

    [Fact]
    public void Pass_skip_or_absent_before_and_fail_now_regresses_and_fail_or_flaky_before_and_pass_now_improves()
    {
        var now = new Dictionary<string, string> { ["was-pass"] = "FAIL", ["was-skip"] = "FAIL", ["new"] = "FAIL", ["was-fail"] = "FAIL", ["fixed"] = "PASS", ["unflaked"] = "PASS", ["same"] = "PASS" };
        var before = new Dictionary<string, string> { ["was-pass"] = "PASS", ["was-skip"] = "SKIP", ["was-fail"] = "FAIL", ["fixed"] = "FAIL", ["unflaked"] = "FLAKY", ["same"] = "PASS" };
        var (regressions, improvements) = ResultJudgement.Compare(now, before);
        Assert.Equal(["was-pass", "was-skip", "new"], regressions);
        Assert.Equal(["fixed", "unflaked"], improvements);
    }
}
