using Kiln.Contracts;

namespace Kiln.Core;

/// <summary>
/// Expands a job's matrix into its combinations, GitHub Actions' way:
/// <list type="number">
/// <item>the product of the axes, in the order written (first axis slowest);</item>
/// <item><c>exclude</c>: each entry removes every combination that has all of its key/value pairs
/// (its keys must be axes and its values values of them, so a typo is an error, not a no-op);</item>
/// <item><c>include</c>, entry by entry: the entry's keys that are axes must all match; it then
/// extends every matching combination left by step 2 with its other keys (overwriting what an
/// earlier include added, never an axis value). An entry that matches none is added as a
/// combination of its own, exactly as written.</item>
/// </list>
/// Every count is bounded before anything is built.
/// </summary>
public sealed class MatrixExpansion(WorkflowLimits limits)
{
    /// <summary>The combinations (each key → value, axes first), or null with errors.</summary>
    public List<Dictionary<string, string>>? Expand(List<ValidationError> errors, string jobName, MatrixDocument? matrix)
    {
        if (matrix is null || (matrix.Count == 0 && matrix.Include is null && matrix.Exclude is null))
        {
            return [[]];
        }
        var field = $"jobs.{jobName}.matrix";
        if (matrix.Count > limits.MaxMatrixAxes)
        {
            errors.Add(new(field, $"at most {limits.MaxMatrixAxes} axes"));
            return null;
        }
        var combos = matrix.Count == 0 ? [] : new List<Dictionary<string, string>> { new(StringComparer.Ordinal) };
        foreach (var (axis, values) in matrix)
        {
            var axisField = $"{field}.{axis}";
            if (axis is MatrixDocument.IncludeKey or MatrixDocument.ExcludeKey)
            {
                errors.Add(new(axisField, $"'{axis}' is a list of key: value entries, not an axis"));
                return null;
            }
            if (!IsName(axis))
            {
                errors.Add(new(axisField, "axis names use letters, digits, '.', '_' or '-'"));
                return null;
            }
            if (values is null || values.Count == 0)
            {
                errors.Add(new(axisField, "an axis needs at least one value"));
                return null;
            }
            if (values.Any(v => !IsName(v)))
            {
                errors.Add(new(axisField, "matrix values are names: letters, digits, '.', '_' or '-'"));
                return null;
            }
            if (values.Distinct().Count() != values.Count)
            {
                errors.Add(new(axisField, "matrix values must be distinct"));
                return null;
            }
            if ((long)combos.Count * values.Count > limits.MaxWorkRequests)
            {
                errors.Add(new(field, $"expands to more than {limits.MaxWorkRequests} work requests"));
                return null;
            }
            combos = [.. combos.SelectMany(c => values.Select(v => new Dictionary<string, string>(c, StringComparer.Ordinal) { [axis] = v }))];
        }

        if (!CheckEntries(errors, $"{field}.{MatrixDocument.ExcludeKey}", matrix.Exclude, matrix, mustBeAxes: true)
            || !CheckEntries(errors, $"{field}.{MatrixDocument.IncludeKey}", matrix.Include, matrix, mustBeAxes: false))
        {
            return null;
        }
        foreach (var entry in matrix.Exclude ?? [])
        {
            combos.RemoveAll(c => entry.All(kv => c.TryGetValue(kv.Key, out var v) && v == kv.Value));
        }
        var product = combos.Count;
        foreach (var entry in matrix.Include ?? [])
        {
            var matched = false;
            // Only the combinations of the product are extended; those an include added stay as written.
            for (var i = 0; i < product; i++)
            {
                var combo = combos[i];
                if (entry.Where(kv => matrix.ContainsKey(kv.Key)).All(kv => combo[kv.Key] == kv.Value))
                {
                    matched = true;
                    foreach (var (k, v) in entry)
                    {
                        combo[k] = v;
                    }
                }
            }
            if (!matched)
            {
                if (combos.Count >= limits.MaxWorkRequests)
                {
                    errors.Add(new(field, $"expands to more than {limits.MaxWorkRequests} work requests"));
                    return null;
                }
                combos.Add(new Dictionary<string, string>(entry, StringComparer.Ordinal));
            }
        }
        if (combos.Count == 0)
        {
            errors.Add(new(field, "every combination is excluded; remove the matrix or an exclude entry"));
            return null;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var combo in combos)
        {
            if (!seen.Add(EntryName(jobName, combo)))
            {
                errors.Add(new($"{field}.{MatrixDocument.IncludeKey}", $"two combinations are both named {EntryName(jobName, combo)}; an include entry repeats a combination"));
                return null;
            }
        }
        return combos;
    }

    /// <summary>A work request's name: the job's, with the entry's values in brackets.</summary>
    public static string EntryName(string jobName, IReadOnlyDictionary<string, string> combo) =>
        combo.Count == 0 ? jobName : $"{jobName}[{string.Join(',', combo.Values)}]";

    private bool CheckEntries(List<ValidationError> errors, string field, List<Dictionary<string, string>>? entries, MatrixDocument matrix, bool mustBeAxes)
    {
        if (entries is null)
        {
            return true;
        }
        if (entries.Count > limits.MaxMatrixEntries)
        {
            errors.Add(new(field, $"at most {limits.MaxMatrixEntries} entries"));
            return false;
        }
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            var entryField = $"{field}[{i}]";
            if (entry is null || entry.Count == 0)
            {
                errors.Add(new(entryField, "an entry is a mapping of at least one key: value"));
                return false;
            }
            if (entry.Count > 2 * limits.MaxMatrixAxes)
            {
                errors.Add(new(entryField, $"at most {2 * limits.MaxMatrixAxes} keys"));
                return false;
            }
            foreach (var (key, value) in entry)
            {
                var keyField = $"{entryField}.{key}";
                if (!IsName(key) || key is MatrixDocument.IncludeKey or MatrixDocument.ExcludeKey)
                {
                    errors.Add(new(keyField, "keys are names: letters, digits, '.', '_' or '-'"));
                    return false;
                }
                if (!IsName(value))
                {
                    errors.Add(new(keyField, "matrix values are names: letters, digits, '.', '_' or '-'"));
                    return false;
                }
                if (mustBeAxes && !matrix.ContainsKey(key))
                {
                    errors.Add(new(keyField, $"'{key}' is not an axis of this matrix; exclude matches axes only ({string.Join(", ", matrix.Keys)})"));
                    return false;
                }
                if (mustBeAxes && !matrix[key].Contains(value))
                {
                    errors.Add(new(keyField, $"'{value}' is not a value of the axis '{key}'; this entry would exclude nothing"));
                    return false;
                }
            }
        }
        return true;
    }

    private bool IsName(string? value) => value is not null && value.Length <= limits.MaxNameLength && Names.Identifier().IsMatch(value);
}
