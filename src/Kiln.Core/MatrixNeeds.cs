namespace Kiln.Core;

/// <summary>
/// Resolves a job's <c>needs</c> to the work requests each of its matrix entries waits for.
/// <list type="bullet">
/// <item><c>needs: build</c> between two jobs whose matrices have the same axes (by name, any
/// order): each entry waits for the entries of <c>build</c> with the same axis values — the 1:1
/// fan-out (test[amd64] waits for build[amd64] only). An entry with no counterpart is an error.</item>
/// <item><c>needs: build[*]</c>, or axes that differ, or either job without a matrix: every entry
/// waits for every entry of <c>build</c>.</item>
/// </list>
/// An entry omitted by its <c>if:</c> passes its own needs on: whoever needed it waits for what it
/// would have waited for, so the order of the rest is kept.
/// </summary>
internal static class MatrixNeeds
{
    /// <summary>The suffix that makes a need wait for every entry of a matrix job.</summary>
    public const string AllEntries = "[*]";

    /// <summary>One expanded entry of a job: its values and what a dependent of it waits for.</summary>
    public sealed record Entry(Dictionary<string, string> Combo, IReadOnlyList<int> Provides);

    /// <summary>A planned job: its declared axes and its entries.</summary>
    public sealed record Expanded(IReadOnlyCollection<string> Axes, IReadOnlyList<Entry> Entries)
    {
        private int[]? _all;

        /// <summary>What waiting for every entry means; computed once however many jobs wait for this one.</summary>
        public int[] All => _all ??= [.. Entries.SelectMany(e => e.Provides).Distinct().Order()];
    }

    /// <summary>The job a need names, without <see cref="AllEntries"/>.</summary>
    public static string Target(string need) => need.EndsWith(AllEntries, StringComparison.Ordinal) ? need[..^AllEntries.Length] : need;

    /// <summary>
    /// For each of <paramref name="combos"/> the sorted, distinct indexes it waits for, or null
    /// with an error (no counterpart, or more than <paramref name="edgeBudget"/> edges in total).
    /// <paramref name="edges"/> counts what has been spent.
    /// </summary>
    public static List<IReadOnlyList<int>>? Resolve(
        List<ValidationError> errors, string jobName, IReadOnlyList<string> needs, IReadOnlyCollection<string> axes,
        List<Dictionary<string, string>> combos, IReadOnlyDictionary<string, Expanded> planned, ref long edges, long edgeBudget)
    {
        // Needs that are the same for every entry, merged once.
        var shared = new SortedSet<int>();
        var perEntry = new List<(int Index, string Target, Dictionary<string, List<IReadOnlyList<int>>> ByKey, string[] Axes)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < needs.Count; i++)
        {
            if (!seen.Add(needs[i]))
            {
                continue;
            }
            var target = Target(needs[i]);
            if (!planned.TryGetValue(target, out var other))
            {
                // That job was refused; its errors are already reported.
                continue;
            }
            var corresponding = !needs[i].EndsWith(AllEntries, StringComparison.Ordinal) && axes.Count > 0
                && other.Axes.Count == axes.Count && axes.All(other.Axes.Contains);
            if (!corresponding)
            {
                shared.UnionWith(other.All);
                continue;
            }
            var axisOrder = axes.Order(StringComparer.Ordinal).ToArray();
            var byKey = new Dictionary<string, List<IReadOnlyList<int>>>(StringComparer.Ordinal);
            foreach (var entry in other.Entries)
            {
                var key = Key(entry.Combo, axisOrder);
                if (!byKey.TryGetValue(key, out var list))
                {
                    byKey[key] = list = [];
                }
                list.Add(entry.Provides);
            }
            perEntry.Add((i, target, byKey, axisOrder));
        }

        edges += (long)shared.Count * combos.Count;
        if (edges > edgeBudget)
        {
            errors.Add(new("jobs", $"the workflow has more than {edgeBudget} dependency edges; split it, or wait for corresponding matrix entries instead of all"));
            return null;
        }
        var sharedList = shared.ToList();
        var result = new List<IReadOnlyList<int>>(combos.Count);
        foreach (var combo in combos)
        {
            if (perEntry.Count == 0)
            {
                result.Add(sharedList);
                continue;
            }
            var mine = new SortedSet<int>(shared);
            foreach (var (index, target, byKey, axisOrder) in perEntry)
            {
                if (!byKey.TryGetValue(Key(combo, axisOrder), out var provides))
                {
                    var name = MatrixExpansion.EntryName(jobName, combo);
                    errors.Add(new($"jobs.{jobName}.needs[{index}]", $"{name} has no corresponding entry in '{target}' (the jobs have the same axes); " +
                        $"give '{target}' that combination, exclude it here, or wait for every entry with '{target}{AllEntries}'"));
                    return null;
                }
                foreach (var p in provides)
                {
                    mine.UnionWith(p);
                }
            }
            edges += mine.Count - shared.Count;
            if (edges > edgeBudget)
            {
                errors.Add(new("jobs", $"the workflow has more than {edgeBudget} dependency edges; split it"));
                return null;
            }
            result.Add(mine.ToList());
        }
        return result;
    }

    /// <summary>The entry's values on the given axes, in order; a missing axis (an include entry of its own) is distinct from every value.</summary>
    private static string Key(Dictionary<string, string> combo, string[] axes) =>
        string.Join('\u0001', axes.Select(a => combo.TryGetValue(a, out var v) ? v : "\u0000"));
}
