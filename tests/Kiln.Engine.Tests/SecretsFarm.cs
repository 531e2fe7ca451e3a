using System.Net.Http.Headers;
using Kiln.Core.Security;
using Kiln.Store.Identity;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// Users and projects for the secrets tests, made with SQL and the identity stores (nothing depends
/// on the identity API): private project A owned by <c>owner</c> with <c>maintainer</c> as its
/// maintainer, and project B owned by <c>other-owner</c>. Each farm has its own names, so test
/// classes sharing a server do not meet.
/// </summary>
public sealed class SecretsFarm
{
    private readonly ServerFixture _server;

    private SecretsFarm(ServerFixture server, string prefix)
    {
        _server = server;
        ProjectA = $"{prefix}-a";
        ProjectB = $"{prefix}-b";
    }

    public string ProjectA { get; }

    public string ProjectB { get; }

    public HttpClient Owner { get; private set; } = null!;

    public HttpClient Maintainer { get; private set; } = null!;

    public HttpClient OtherOwner { get; private set; } = null!;

    public static async Task<SecretsFarm> CreateAsync(ServerFixture server, string prefix)
    {
        var farm = new SecretsFarm(server, prefix);
        var identity = server.Host.Services.GetRequiredService<IdentityStore>();
        var access = server.Host.Services.GetRequiredService<AccessStore>();
        var owner = await farm.UserAsync($"{prefix}-owner");
        var maintainer = await farm.UserAsync($"{prefix}-maintainer");
        var otherOwner = await farm.UserAsync($"{prefix}-other-owner");
        Assert.NotNull(await access.CreateProjectAsync(farm.ProjectA, owner, isPrivate: true, "", CancellationToken.None));
        Assert.NotNull(await access.CreateProjectAsync(farm.ProjectB, otherOwner, isPrivate: true, "", CancellationToken.None));
        await farm.SqlAsync("INSERT INTO project_members (project_id, user_id, role, added_at) SELECT id, @b, 'maintainer', now() FROM projects WHERE name = @a", farm.ProjectA, maintainer);
        async Task<HttpClient> ClientAsync(long user)
        {
            var client = server.AnonymousClient();
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await identity.CreateTokenAsync(user, "secrets", Scopes.All, null, CancellationToken.None)).Token);
            return client;
        }
        farm.Owner = await ClientAsync(owner);
        farm.Maintainer = await ClientAsync(maintainer);
        farm.OtherOwner = await ClientAsync(otherOwner);
        return farm;
    }

    /// <summary>A worker registered into the default pool, then moved into pool <paramref name="pool"/> (made if missing).</summary>
    public async Task<HttpClient> WorkerInPoolAsync(string name, string pool, string queue)
    {
        var worker = await _server.RegisterWorkerAsync(name, queues: [queue]);
        await SqlAsync("INSERT INTO worker_pools (name, created_at) VALUES (@a, now()) ON CONFLICT DO NOTHING", pool);
        await SqlAsync("UPDATE workers SET pool_id = (SELECT id FROM worker_pools WHERE name = @a) WHERE name = @c", pool, 0, name);
        return worker;
    }

    /// <summary>Project <paramref name="project"/> trusts pool <paramref name="pool"/> with its secrets.</summary>
    public Task TrustAsync(string project, string pool) => SqlAsync(
        "INSERT INTO project_trusted_pools (project_id, pool_id) SELECT p.id, w.id FROM projects p, worker_pools w WHERE p.name = @a AND w.name = @c", project, 0, pool);

    public async Task<object?> SqlAsync(string sql, string a, long b = 0, string c = "")
    {
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, db);
        cmd.Parameters.AddWithValue("a", a);
        cmd.Parameters.AddWithValue("b", b);
        cmd.Parameters.AddWithValue("c", c);
        return await cmd.ExecuteScalarAsync();
    }

    private async Task<long> UserAsync(string name) => (long)(await SqlAsync("INSERT INTO users (name, created_at) VALUES (@a, now()) RETURNING id", name))!;
}
