using System.Diagnostics;
using System.Text.Json.Nodes;
using Kiln.Bench;

var options = BenchOptions.Parse(args, out var error);
if (options is null)
{
    Console.Error.WriteLine($"Kiln.Bench: {error}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

var started = Stopwatch.GetTimestamp();
Console.WriteLine($"Kiln.Bench {options.Command}{(options.Quick ? " --quick" : "")}: starting a {(options.Ephemeral ? "fsync-off" : "durable")} PostgreSQL cluster");
await using var cluster = await BenchCluster.StartAsync(options);
var environment = await BenchEnvironment.DescribeAsync(cluster, options);

var results = new List<BenchResult>();
async Task<BenchResult> Step(Func<Task<BenchResult>> run)
{
    var t = Stopwatch.GetTimestamp();
    var r = await run();
    r.Metric("bench_seconds", Stopwatch.GetElapsedTime(t).TotalSeconds);
    foreach (var (k, v) in environment)
    {
        r.Environment[k] = v;
    }
    r.Print(Console.Out);
    results.Add(r);
    return r;
}

switch (options.Command)
{
    case "lifecycle": await Step(() => LifecycleBench.RunAsync(cluster, options)); break;
    case "ceiling": await Step(() => CeilingBench.RunAsync(cluster, options, null)); break;
    case "peer": await Step(() => PeerBench.RunAsync(cluster, options, null)); break;
    case "graph": await Step(() => GraphBench.RunAsync(cluster, options)); break;
    case "writes": await Step(() => WritesBench.RunAsync(cluster, options)); break;
    case "claim": await Step(() => ClaimBench.RunAsync(cluster, options)); break;
    case "lists": await Step(() => ListsBench.RunAsync(cluster, options)); break;
    case "auth": await Step(() => AuthBench.RunAsync(cluster, options)); break;
    case "events": await Step(() => EventsBench.RunAsync(cluster, options)); break;
    case "status": await Step(() => StatusBench.RunAsync(cluster, options)); break;
    default:
        var lifecycle = await Step(() => LifecycleBench.RunAsync(cluster, options));
        await Step(() => CeilingBench.RunAsync(cluster, options, lifecycle));
        await Step(() => PeerBench.RunAsync(cluster, options, lifecycle));
        await Step(() => GraphBench.RunAsync(cluster, options));
        await Step(() => WritesBench.RunAsync(cluster, options));
        await Step(() => ClaimBench.RunAsync(cluster, options));
        await Step(() => AuthBench.RunAsync(cluster, options));
        await Step(() => EventsBench.RunAsync(cluster, options));
        break;
}

var total = Stopwatch.GetElapsedTime(started).TotalSeconds;
Console.WriteLine($"\nKiln.Bench {options.Command} finished in {total:F1} s");
if (options.JsonFile is not null)
{
    JsonNode json;
    if (results.Count == 1)
    {
        json = results[0].ToJson();
    }
    else
    {
        var all = new BenchResult("all");
        foreach (var r in results)
        {
            all.Absorb(r, r.Name + ".");
        }
        all.Metric("total_seconds", total);
        foreach (var (k, v) in environment)
        {
            all.Environment[k] = v;
        }
        var obj = all.ToJson();
        obj["results"] = new JsonArray([.. results.Select(r => (JsonNode)r.ToJson())]);
        json = obj;
    }
    await File.WriteAllTextAsync(options.JsonFile, BenchResult.Serialize(json) + "\n");
    Console.WriteLine($"wrote {options.JsonFile}");
}
return 0;
