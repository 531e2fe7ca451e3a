using System.Globalization;
using System.Text;
using Kiln.Contracts;

namespace Kiln.Core;

/// <summary>
/// Sizes a job's matrix expansion arithmetically — from its templates and the matrix values,
/// before a single substituted string is built — and keeps the running total of the whole
/// workflow. Without it a 64 KiB <c>run</c> full of <c>${{ matrix.a }}</c> under a 223 × 224
/// matrix passed every limit (each checked on the template) and then built gigabytes of
/// strings. A job whose expansion is too large is refused with the field and the limit, in the
/// time it takes to scan its templates once.
/// </summary>
internal sealed class ExpansionBudget(WorkflowLimits limits)
{
    private long _total;

    /// <summary>Bytes of scripts, environment, requirements and outputs of the jobs admitted so far.</summary>
    public long Total => _total;

    /// <summary>
    /// Checks the counts and expanded sizes of <paramref name="job"/> over its <paramref name="combos"/>
    /// matrix combinations; adds its size to <see cref="Total"/>. False (with errors) when it must not be built.
    /// Template-level problems (a script over the limit before substitution) are left to the per-request checks.
    /// </summary>
    public bool Admit(List<ValidationError> errors, string jobName, JobDocument job, JobDefaults? defaults,
        IReadOnlyList<Dictionary<string, string>> matrix)
    {
        var field = $"jobs.{jobName}";
        var before = errors.Count;
        var combos = matrix.Count;
        // Per matrix key: the longest value, the sum of the values' lengths over the combinations and how many have it
        // (include/exclude make the combinations other than a plain product).
        var axes = new Dictionary<string, Axis>(StringComparer.Ordinal);
        foreach (var combo in matrix)
        {
            foreach (var (k, v) in combo)
            {
                var a = axes.GetValueOrDefault(k);
                axes[k] = new Axis(Math.Max(a.Longest, v.Length), a.Sum + v.Length, a.Count + 1);
            }
        }

        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (k, v) in defaults?.Env ?? [])
        {
            env[k] = v;
        }
        foreach (var (k, v) in job.Env ?? [])
        {
            env[k] = v;
        }
        if (env.Count > limits.MaxEnvEntries)
        {
            errors.Add(new($"{field}.env", $"at most {limits.MaxEnvEntries} variables"));
        }
        var requires = job.Requires;
        var tags = requires?.Tags ?? defaults?.Requires?.Tags ?? [];
        if (tags.Count > limits.MaxTags || tags.Any(t => t is null || t.Length > limits.MaxNameLength))
        {
            errors.Add(new($"{field}.requires.tags", $"at most {limits.MaxTags} tags, each a name"));
        }
        var architecture = requires?.Architecture ?? defaults?.Requires?.Architecture;
        if (architecture is { Length: var length } && length > limits.MaxNameLength)
        {
            errors.Add(new($"{field}.requires.architecture", $"an architecture name has at most {limits.MaxNameLength} characters"));
        }
        var outputs = job.Outputs ?? [];
        if (outputs.Count > limits.MaxOutputs)
        {
            errors.Add(new($"{field}.outputs", $"at most {limits.MaxOutputs} globs"));
        }
        if (errors.Count > before)
        {
            return false;
        }

        long total = 0;
        if (job.Run is { } run && Encoding.UTF8.GetByteCount(run) <= limits.MaxScriptBytes)
        {
            var size = Measure(run, axes, combos, utf8: true);
            if (size.Max > limits.MaxScriptBytes)
            {
                errors.Add(new($"{field}.run", $"with the matrix values substituted the script is up to {N(size.Max)} bytes; the limit is {N(limits.MaxScriptBytes)} bytes"));
            }
            total += size.Total;
        }
        foreach (var (k, v) in env)
        {
            total += (long)combos * Encoding.UTF8.GetByteCount(k);
            if (v is null || v.Length > limits.MaxEnvValueLength)
            {
                continue;
            }
            var size = Measure(v, axes, combos, utf8: false);
            if (size.Max > limits.MaxEnvValueLength)
            {
                errors.Add(new($"{field}.env.{k}", $"with the matrix values substituted the value is up to {N(size.Max)} characters; the limit is {N(limits.MaxEnvValueLength)}"));
            }
            total += size.Total;
        }
        foreach (var template in tags.Append(architecture ?? ""))
        {
            total += Measure(template ?? "", axes, combos, utf8: true).Total;
        }
        total += (long)combos * outputs.Sum(o => (long)(o?.Length ?? 0));
        if (errors.Count > before)
        {
            return false;
        }

        _total += total;
        if (_total > limits.MaxExpandedBytes)
        {
            errors.Add(new(field, $"the workflow expands to more than {N(limits.MaxExpandedBytes)} bytes of scripts and environment " +
                $"(job '{jobName}' alone to {N(total)} over {N(combos)} work request(s)); split it, or put shared content in a file the jobs fetch"));
            return false;
        }
        return true;
    }

    /// <summary>
    /// The largest and the total size of <paramref name="template"/> over every combination: the
    /// text outside references is repeated in each; a reference to an axis takes each of that
    /// axis's values in <c>combos / values</c> combinations. References to unknown axes stay as
    /// written (and are reported by the planner).
    /// </summary>
    private static (long Max, long Total) Measure(string template, Dictionary<string, Axis> axes, int combos, bool utf8)
    {
        long fixedSize = utf8 ? Encoding.UTF8.GetByteCount(template) : template.Length;
        if (axes.Count == 0 || !template.Contains("${{", StringComparison.Ordinal))
        {
            return (fixedSize, fixedSize * combos);
        }
        long max = 0, total = 0;
        foreach (System.Text.RegularExpressions.Match m in Names.MatrixReference().Matches(template))
        {
            if (!axes.TryGetValue(m.Groups[1].Value, out var axis))
            {
                continue;
            }
            fixedSize -= utf8 ? Encoding.UTF8.GetByteCount(m.ValueSpan) : m.Length;
            // Matrix values are names (ASCII): characters and bytes agree. Where a combination lacks the key the reference stays.
            var reference = utf8 ? Encoding.UTF8.GetByteCount(m.ValueSpan) : m.Length;
            max += Math.Max(axis.Longest, axis.Count < combos ? reference : 0);
            total += axis.Sum + ((long)(combos - axis.Count) * reference);
        }
        return (fixedSize + max, (fixedSize * combos) + total);
    }

    private readonly record struct Axis(long Longest, long Sum, int Count);

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
