using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Server.Api;
using Kiln.Store.Identity;
using Npgsql;

namespace Kiln.Bench;

/// <summary>
/// <c>auth</c>: what authentication costs one request, measured side by side. The same read
/// (<c>GET /api/v1/workflows/{id}</c> of a public project) is made sequentially without a token,
/// with a farm admin's token, and with a contributor's token (which also takes the project
/// check), in alternating rounds so drift on a shared machine falls on all three alike. The
/// difference of the means is the per-request cost of reading the token, its user and
/// memberships from the database (every request: revocation counts at once on every replica).
/// It also counts the <c>last_used_at</c> writes the authenticated rounds caused (at most one per
/// token per interval).
/// </summary>
public static class AuthBench
{
    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = new BenchResult("auth");
        await using var kiln = await KilnUnderTest.StartAsync(cluster, "auth");
        var submitted = await kiln.SubmitAsync(KilnUnderTest.Independent(1, "auth"));
        var identity = kiln.Service<IdentityStore>();
        long contributor;
        await using (var conn = new NpgsqlConnection(kiln.ConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("""
                WITH u AS (INSERT INTO users (name, created_at) VALUES ('bench-contributor', now()) RETURNING id)
                INSERT INTO project_members (project_id, user_id, role, added_at)
                SELECT (SELECT project_id FROM workflows WHERE id = @w), id, 'contributor', now() FROM u
                RETURNING user_id
                """, conn);
            cmd.Parameters.AddWithValue("w", submitted.Id);
            contributor = (long)(await cmd.ExecuteScalarAsync())!;
        }
        var contributorToken = (await identity.CreateTokenAsync(contributor, "bench", Scopes.Read | Scopes.Submit, null, CancellationToken.None)).Token;

        using var anonymous = kiln.NewClient();
        anonymous.DefaultRequestHeaders.Authorization = null;
        using var admin = kiln.NewClient();
        using var member = kiln.NewClient();
        member.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", contributorToken);
        var path = $"/api/v1/workflows/{submitted.Id}";
        var clients = new (string Name, HttpClient Client)[] { ("anonymous", anonymous), ("admin_token", admin), ("contributor_token", member) };

        var perRound = o.Quick ? 300 : 2000;
        var rounds = o.Quick ? 4 : 10;
        // Warm up every path (connections, prepared statements, JIT).
        foreach (var (_, c) in clients)
        {
            await ReadAsync(c, path, 100);
        }
        var updatesBefore = await TokenUpdatesAsync(kiln);
        var totals = clients.ToDictionary(c => c.Name, _ => new List<double>());
        for (var round = 0; round < rounds; round++)
        {
            // Rotate the order each round, so no path always runs first or last.
            for (var k = 0; k < clients.Length; k++)
            {
                var (name, client) = clients[(k + round) % clients.Length];
                var started = Stopwatch.GetTimestamp();
                await ReadAsync(client, path, perRound);
                totals[name].Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds / perRound);
            }
        }
        kiln.FlushStatistics();
        var updates = await TokenUpdatesAsync(kiln) - updatesBefore;

        var mean = totals.ToDictionary(t => t.Key, t => t.Value.Order().Skip(t.Value.Count / 4).Take(Math.Max(1, t.Value.Count / 2)).Average());
        foreach (var (name, us) in mean)
        {
            result.Metric($"{name}_read_us", us);
        }
        result.Metric("auth_cost_us", mean["admin_token"] - mean["anonymous"]);
        result.Metric("auth_and_project_check_cost_us", mean["contributor_token"] - mean["anonymous"]);
        result.Metric("authenticated_requests", 2.0 * rounds * perRound);
        result.Metric("last_used_at_writes", updates);
        result.Ratio("admin_token_vs_anonymous", mean["admin_token"] / mean["anonymous"]);
        result.Ratio("contributor_token_vs_anonymous", mean["contributor_token"] / mean["anonymous"]);
        result.Notes.Add($"{perRound} sequential reads per caller per round, {rounds} rounds; per-request means of the middle half of the rounds");
        return result;
    }

    private static async Task ReadAsync(HttpClient client, string path, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync(path);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
            await response.Content.ReadFromJsonAsync<WorkflowView>(ApiJson.Options);
        }
    }

    /// <summary>Tuples updated in api_tokens so far (flushed statistics of ended sessions and this one).</summary>
    private static async Task<long> TokenUpdatesAsync(KilnUnderTest kiln)
    {
        await using var conn = new NpgsqlConnection(kiln.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'api_tokens'", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
