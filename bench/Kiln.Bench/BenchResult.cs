using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Bench;

/// <summary>
/// What one subcommand measured: <c>{"name", "metrics", "ratios", "environment"}</c>. Metrics are
/// numbers (units in the key: <c>_per_s</c>, <c>_ms</c>, <c>_s</c>, <c>_bytes</c>); ratios are
/// Kiln divided by a reference measured in the same run; notes are printed, not compared.
/// </summary>
public sealed class BenchResult(string name)
{
    public string Name { get; } = name;

    public SortedDictionary<string, double> Metrics { get; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, double> Ratios { get; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    public List<string> Notes { get; } = [];

    /// <summary>Records a metric; a value that could not be measured (NaN, infinite) is left out and noted.</summary>
    public void Metric(string key, double value)
    {
        if (double.IsFinite(value))
        {
            Metrics[key] = Math.Round(value, 4);
        }
        else
        {
            Notes.Add($"{key} could not be measured");
        }
    }

    public void Ratio(string key, double value)
    {
        if (double.IsFinite(value))
        {
            Ratios[key] = Math.Round(value, 4);
        }
        else
        {
            Notes.Add($"ratio {key} could not be computed");
        }
    }

    /// <summary>Copies another result's metrics under a prefix (used by <c>all</c> and by the ratio benches).</summary>
    public void Absorb(BenchResult other, string prefix)
    {
        foreach (var (k, v) in other.Metrics)
        {
            Metrics[prefix + k] = v;
        }
        foreach (var (k, v) in other.Ratios)
        {
            Ratios[k] = v;
        }
        Notes.AddRange(other.Notes);
    }

    public JsonObject ToJson()
    {
        var metrics = new JsonObject();
        foreach (var (k, v) in Metrics)
        {
            metrics[k] = v;
        }
        var ratios = new JsonObject();
        foreach (var (k, v) in Ratios)
        {
            ratios[k] = v;
        }
        var environment = new JsonObject();
        foreach (var (k, v) in Environment)
        {
            environment[k] = v;
        }
        return new JsonObject { ["name"] = Name, ["metrics"] = metrics, ["ratios"] = ratios, ["environment"] = environment };
    }

    public static string Serialize(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    public void Print(TextWriter output)
    {
        output.WriteLine();
        output.WriteLine($"== {Name} ==");
        var width = Metrics.Keys.Concat(Ratios.Keys).Select(k => k.Length).DefaultIfEmpty(10).Max();
        foreach (var (k, v) in Metrics)
        {
            output.WriteLine($"  {k.PadRight(width)}  {Format(v)}");
        }
        if (Ratios.Count > 0)
        {
            output.WriteLine("  ratios (Kiln / reference, same run):");
            foreach (var (k, v) in Ratios)
            {
                output.WriteLine($"  {k.PadRight(width)}  {v.ToString("0.###", CultureInfo.InvariantCulture)}x");
            }
        }
        foreach (var note in Notes)
        {
            output.WriteLine($"  note: {note}");
        }
    }

    private static string Format(double v) =>
        Math.Abs(v) >= 1000 ? v.ToString("#,0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);
}
