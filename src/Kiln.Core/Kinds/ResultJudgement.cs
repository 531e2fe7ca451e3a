using System.Text.Json;

namespace Kiln.Core.Kinds;

/// <summary>
/// Reads a kind's structured result: whether the tool reported a failure its exit code hid, and how an
/// autopkgtest run compares with the suite's reference results (as Debusine does it).
/// </summary>
public static class ResultJudgement
{
    /// <summary>The statuses that let an attempt pass: the tool built (<c>successful</c>), the checks passed, or there was nothing to test (<c>neutral</c>).</summary>
    public static readonly IReadOnlyList<string> PassingStatuses = ["successful", "passed", "neutral"];

    /// <summary>
    /// Why the result fails the attempt, or null when it does not: a <c>status</c> other than the passing ones
    /// (a result without one fails nothing), or regressions when the job asked to fail on them.
    /// </summary>
    public static string? FailureOf(string kind, JsonElement result, bool failOnRegression)
    {
        if (result.TryGetProperty("status", out var status))
        {
            var text = status.ValueKind == JsonValueKind.String ? status.GetString() ?? "" : status.GetRawText();
            if (!PassingStatuses.Contains(text, StringComparer.Ordinal))
            {
                var stage = result.TryGetProperty("failStage", out var s) && s.ValueKind == JsonValueKind.String ? $" (fail stage: {s.GetString()})" : "";
                var tool = kind switch
                {
                    "debian/sbuild" => "sbuild",
                    "debian/lintian" => "lintian",
                    "debian/autopkgtest" => "autopkgtest",
                    "rpm/rpmbuild" => "rpmbuild",
                    "" => "the job",
                    _ => kind,
                };
                return Truncate($"{tool} reported Status: {text}{stage}");
            }
        }
        if (failOnRegression && Names(result, "regressions") is { Count: > 0 } regressions)
        {
            return Truncate($"{regressions.Count} regression{(regressions.Count == 1 ? "" : "s")}: {string.Join(", ", regressions)}");
        }
        return null;
    }

    /// <summary>
    /// Compares test results by name with a reference run: pass, skip or absent before and fail now is a
    /// regression; fail or flaky before and pass now is an improvement. Names in order of the current run.
    /// </summary>
    public static (IReadOnlyList<string> Regressions, IReadOnlyList<string> Improvements) Compare(
        IReadOnlyDictionary<string, string> current, IReadOnlyDictionary<string, string> reference)
    {
        var regressions = new List<string>();
        var improvements = new List<string>();
        foreach (var (name, now) in current)
        {
            var before = reference.GetValueOrDefault(name);
            if (now == "FAIL" && before is null or "PASS" or "SKIP")
            {
                regressions.Add(name);
            }
            else if (now == "PASS" && before is "FAIL" or "FLAKY")
            {
                improvements.Add(name);
            }
        }
        return (regressions, improvements);
    }

    /// <summary>The tests of an autopkgtest result by name (<c>tests: [{name, result}]</c>), in order; the first of a repeated name wins.</summary>
    public static IReadOnlyDictionary<string, string> Tests(JsonElement result)
    {
        var tests = new Dictionary<string, string>(StringComparer.Ordinal);
        if (result.ValueKind == JsonValueKind.Object && result.TryGetProperty("tests", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var test in list.EnumerateArray())
            {
                if (test.ValueKind == JsonValueKind.Object
                    && test.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                    && test.TryGetProperty("result", out var outcome) && outcome.ValueKind == JsonValueKind.String)
                {
                    tests.TryAdd(name.GetString()!, outcome.GetString()!);
                }
            }
        }
        return tests;
    }

    /// <summary>A list of strings in the result (<c>regressions</c>), empty when absent or not strings.</summary>
    public static IReadOnlyList<string> Names(JsonElement result, string property) =>
        result.ValueKind == JsonValueKind.Object && result.TryGetProperty(property, out var list) && list.ValueKind == JsonValueKind.Array
            ? [.. list.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)]
            : [];

    /// <summary>A string property of the result, or null.</summary>
    public static string? Text(JsonElement result, string property) =>
        result.ValueKind == JsonValueKind.Object && result.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Truncate(string message) => message.Length <= 1000 ? message : message[..997] + "...";
}
