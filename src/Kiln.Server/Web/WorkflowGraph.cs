using Kiln.Contracts;

namespace Kiln.Server.Web;

/// <summary>
/// The workflow page's picture: jobs in columns by dependency depth (a job sits one column right
/// of the deepest job it needs), and the matrix entries of one job — names "build[amd64]",
/// "build[arm64]" — grouped into one box, so a 10,000-job matrix is a handful of boxes.
/// </summary>
public static class WorkflowGraph
{
    public static IReadOnlyList<IReadOnlyList<GraphNode>> Layers(IReadOnlyList<WorkRequestSummary> jobs, IReadOnlyDictionary<long, long[]> needs)
    {
        var depth = new Dictionary<long, int>();
        var byId = jobs.ToDictionary(j => j.Id);
        // Ids grow with submission order and a job's needs are submitted before it, but compute without relying on it.
        int DepthOf(long id, int guard)
        {
            if (depth.TryGetValue(id, out var d))
            {
                return d;
            }
            var deepest = -1;
            if (guard < 10_000 && needs.TryGetValue(id, out var of))
            {
                foreach (var n in of)
                {
                    if (byId.ContainsKey(n))
                    {
                        deepest = Math.Max(deepest, DepthOf(n, guard + 1));
                    }
                }
            }
            return depth[id] = deepest + 1;
        }
        foreach (var j in jobs.OrderBy(j => j.Id))
        {
            DepthOf(j.Id, 0);
        }
        return [.. jobs.GroupBy(j => depth[j.Id]).OrderBy(g => g.Key)
            .Select(layer => (IReadOnlyList<GraphNode>)[.. layer.GroupBy(j => BaseName(j.Name)).Select(g => new GraphNode(g.Key, [.. g.OrderBy(j => j.Id)]))])];
    }

    /// <summary>"build[amd64,trixie]" → "build": the job of a matrix entry (MatrixExpansion.EntryName).</summary>
    public static string BaseName(string name)
    {
        var bracket = name.IndexOf('[', StringComparison.Ordinal);
        return bracket > 0 && name.EndsWith(']') ? name[..bracket] : name;
    }
}
