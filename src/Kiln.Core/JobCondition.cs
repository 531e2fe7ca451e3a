using Kiln.Contracts;

namespace Kiln.Core;

/// <summary>
/// A job's <c>if:</c> as the planner uses it: parsed with the names a submission knows
/// (<c>trigger</c>, <c>branch</c>, the declared parameters, the job's matrix keys), optionally
/// written inside <c>${{ … }}</c> as in GitHub Actions; errors name <c>jobs.NAME.if</c> and the column.
/// </summary>
internal static class JobCondition
{
    public static ConditionExpression? Parse(List<ValidationError> errors, string jobName, JobDocument job, WorkflowParameters parameters)
    {
        if (job.If is not { } text)
        {
            return null;
        }
        var offset = 0;
        var trimmed = text.Trim();
        if (trimmed.StartsWith("${{", StringComparison.Ordinal) && trimmed.EndsWith("}}", StringComparison.Ordinal))
        {
            offset = text.IndexOf("${{", StringComparison.Ordinal) + 3;
            text = trimmed[3..^2];
        }
        var matrixKeys = new HashSet<string>((IEnumerable<string>?)job.Matrix?.Keys ?? [], StringComparer.Ordinal);
        foreach (var entry in job.Matrix?.Include ?? [])
        {
            matrixKeys.UnionWith((IEnumerable<string>?)entry?.Keys ?? []);
        }
        var (condition, error) = ConditionExpression.Parse(text, name =>
            name is "trigger" or "branch"
            || (name.StartsWith("params.", StringComparison.Ordinal) && parameters.Has(name["params.".Length..]))
            || (name.StartsWith("matrix.", StringComparison.Ordinal) && matrixKeys.Contains(name["matrix.".Length..])));
        if (error is not null)
        {
            if (offset > 0 && error.StartsWith("column ", StringComparison.Ordinal) && error.IndexOf(':', StringComparison.Ordinal) is var colon and > 7
                && int.TryParse(error.AsSpan(7, colon - 7), out var column))
            {
                error = $"column {column + offset}{error[colon..]}";
            }
            errors.Add(new($"jobs.{jobName}.if", error));
        }
        return condition;
    }

    /// <summary>The values a condition reads for one matrix entry: the submission's, then <c>matrix.KEY</c> (missing keys are empty).</summary>
    public static Func<string, string?> Values(IReadOnlyDictionary<string, string> submission, IReadOnlyDictionary<string, string> combo) => name =>
        name.StartsWith("matrix.", StringComparison.Ordinal)
            ? combo.GetValueOrDefault(name["matrix.".Length..])
            : submission.GetValueOrDefault(name);
}
