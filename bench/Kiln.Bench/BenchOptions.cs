using System.Globalization;

namespace Kiln.Bench;

/// <summary>Command line of <c>Kiln.Bench</c>; every size has a full and a <c>--quick</c> default.</summary>
public sealed record BenchOptions
{
    public const string Usage = """
        usage: Kiln.Bench <lifecycle|ceiling|peer|graph|writes|claim|lists|auth|events|status|all> [options]
          (lists and status are not part of all: 1M rows take minutes to generate and index;
           status waits out a forge's minute of rate limiting, twice)
          --quick              small sizes: every subcommand together finishes in under 60 s
          --json FILE          also write {"name","metrics","ratios","environment"} to FILE
          --workers W          simulated workers = Hangfire workers = pgbench clients (default 8)
          --n N                work requests per lifecycle shape (default 10000, quick 200)
          --slots S            task slots of each simulated worker (default 1)
          --prefetch P         assignments each worker claims ahead (default 15; 0 = claim only free slots)
          --unbatched-reports  one report request per task instead of one per claim
          --seconds S          pgbench duration (default 30, quick 3)
          --pending N          pending work requests for the claim bench (default 100000, quick 100000)
          --projects P         projects they are spread over (default 1000)
          --ephemeral          run PostgreSQL with fsync off (not honest for durability; for comparison)
          --no-stat-statements do not load pg_stat_statements (its overhead is a few percent)
          --data-dir DIR       where the bench cluster lives (default /tmp/kiln-bench-PID; removed after)
          --keep               keep the cluster directory
        """;

    public required string Command { get; init; }
    public bool Quick { get; init; }
    public string? JsonFile { get; init; }
    public int Workers { get; init; } = 8;
    public int N { get; init; }
    public int PgbenchSeconds { get; init; }
    public int Pending { get; init; }
    public int Projects { get; init; }
    public bool Ephemeral { get; init; }
    public bool StatementStats { get; init; } = true;
    public string? DataDirectory { get; init; }
    public bool Keep { get; init; }

    /// <summary>The simulated workers' protocol in the lifecycle bench (and the worker count of peer and ceiling).</summary>
    public WorkerProtocol Protocol { get; init; } = new(1, 15, true);

    public static readonly string[] Commands = ["lifecycle", "ceiling", "peer", "graph", "writes", "claim", "lists", "auth", "events", "status", "all"];

    public static BenchOptions? Parse(string[] args, out string? error)
    {
        error = null;
        if (args.Length == 0 || !Commands.Contains(args[0]))
        {
            error = args.Length == 0 ? "name a subcommand" : $"unknown subcommand '{args[0]}'";
            return null;
        }
        var quick = args.Contains("--quick");
        var o = new BenchOptions
        {
            Command = args[0],
            Quick = quick,
            N = quick ? 200 : 10_000,
            PgbenchSeconds = quick ? 3 : 30,
            Pending = 100_000,
            Projects = 1_000,
        };
        for (var i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            try
            {
                o = args[i] switch
                {
                    "--quick" => o,
                    "--json" => o with { JsonFile = Next() },
                    "--workers" => o with { Workers = Int() },
                    "--n" => o with { N = Int() },
                    "--seconds" => o with { PgbenchSeconds = Int() },
                    "--pending" => o with { Pending = Int() },
                    "--projects" => o with { Projects = Int() },
                    "--ephemeral" => o with { Ephemeral = true },
                    "--no-stat-statements" => o with { StatementStats = false },
                    "--data-dir" => o with { DataDirectory = Next() },
                    "--keep" => o with { Keep = true },
                    "--slots" => o with { Protocol = o.Protocol with { Slots = Int() } },
                    "--prefetch" => o with { Protocol = o.Protocol with { Prefetch = Int() } },
                    "--unbatched-reports" => o with { Protocol = o.Protocol with { BatchReports = false } },
                    _ => throw new FormatException($"unknown option '{args[i]}'"),
                };
            }
            catch (FormatException e)
            {
                error = e.Message;
                return null;
            }
        }
        if (o.Workers is < 1 or > 64 || o.N < 1 || o.Pending < o.Projects || o.Projects < 1
            || o.Protocol.Slots is < 1 or > 64 || o.Protocol.Prefetch is < 0 or > 63)
        {
            error = "--workers and --slots must be 1 to 64, --prefetch 0 to 63, --n at least 1, --pending at least --projects";
            return null;
        }
        return o;
    }
}
