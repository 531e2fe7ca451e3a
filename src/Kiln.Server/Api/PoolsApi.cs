using System.Globalization;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Kiln.Store.Workers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/pools</c> and <c>/api/v1/registration-tokens</c>: worker pools (farm policy, admins
/// only) and the tokens that enrol workers into them; and a project's trust in pools
/// (<c>/api/v1/projects/{name}/trusted-pools/{pool}</c>, the project owner's). See docs/worker.md.
/// </summary>
public static class PoolsApi
{
    private const int BodyMaxBytes = 64 * 1024;
    private const int MaxDescription = 1000;
    private const int MaxComment = 200;
    private const int MaxListed = 256;

    public static IEndpointRouteBuilder MapPoolsApi(this IEndpointRouteBuilder routes)
    {
        var pools = routes.MapGroup("/api/v1/pools").WithTags("Pools");
        pools.MapGet("/", async (PoolStore store, string? limit, string? after, CancellationToken ct) =>
        {
            var (n, cursor, problem) = ListQuery.Parse(limit, after);
            return problem ?? TypedResults.Ok(await store.ListAsync(cursor, n, ct));
        }).Allow(AccessPolicy.Admin).Produces<Page<PoolView>>().WithSummary("Worker pools: what their workers serve, whether new workers need approval.");
        pools.MapGet("/{name}", async (string name, PoolStore store, CancellationToken ct) =>
            InvalidName(name) ?? (await store.GetAsync(name, ct) is { } pool ? TypedResults.Ok(pool) : UnknownPool(name)))
            .Allow(AccessPolicy.Admin).Produces<PoolView>().WithSummary("One pool.");
        pools.MapPost("/", CreateAsync).Allow(AccessPolicy.Admin).Accepts<PoolRequest>("application/json").Produces<PoolView>()
            .WithSummary("Create a pool: {name, description, queues (empty: every queue), projects (empty: every project), excludePrivate, approvalRequired}.");
        pools.MapPatch("/{name}", UpdateAsync).Allow(AccessPolicy.Admin).Accepts<PoolRequest>("application/json").Produces<PoolView>()
            .WithSummary("Change a pool: only the fields given change. Claims follow the change at once.");
        pools.MapDelete("/{name}", DeleteAsync).Allow(AccessPolicy.Admin).Produces<ActionResponse>()
            .WithSummary("Delete a pool no listed worker belongs to, with its registration tokens (not the default pool).");
        pools.MapPost("/{name}/registration-tokens", CreateTokenAsync).Allow(AccessPolicy.Admin)
            .Accepts<CreateRegistrationTokenRequest>("application/json").Produces<CreatedRegistrationToken>()
            .WithSummary("Make a registration token that enrols workers into the pool; its text is in this answer only.");

        var tokens = routes.MapGroup("/api/v1/registration-tokens").WithTags("Pools");
        tokens.MapGet("/", ListTokensAsync).Allow(AccessPolicy.Admin).Produces<Page<RegistrationTokenView>>()
            .WithSummary("Registration tokens (prefix, pool, comment, expiry, revocation), optionally of one ?pool=.");
        tokens.MapDelete("/{id:long}", RevokeTokenAsync).Allow(AccessPolicy.Admin).Produces<ActionResponse>()
            .WithSummary("Revoke a registration token: it enrols no more workers (workers it enrolled keep their own secrets).");

        var trust = routes.MapGroup("/api/v1/projects/{name}/trusted-pools").WithTags("Projects");
        trust.MapPut("/{pool}", (string name, string pool, HttpContext http, PoolStore store, AccessStore access, ProjectAccess check, AuditStore audit, CancellationToken ct) =>
            SetTrustAsync(name, pool, true, http, store, access, check, audit, ct))
            .Allow(AccessPolicy.ProjectOwner).Produces<ActionResponse>()
            .WithSummary("Trust a pool with the project's secrets: jobs that name secrets go only to trusted pools (project owners).");
        trust.MapDelete("/{pool}", (string name, string pool, HttpContext http, PoolStore store, AccessStore access, ProjectAccess check, AuditStore audit, CancellationToken ct) =>
            SetTrustAsync(name, pool, false, http, store, access, check, audit, ct))
            .Allow(AccessPolicy.ProjectOwner).Produces<ActionResponse>()
            .WithSummary("Stop trusting a pool with the project's secrets (project owners).");
        return routes;
    }

    private static async Task<IResult> CreateAsync(HttpContext http, PoolStore store, WorkerStore workers, AuditStore audit, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<PoolRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Name is null || InvalidName(body.Name) is not null)
        {
            return ApiProblems.Invalid("name", "a pool name uses letters, digits, '.', '_' or '-' (at most 100)");
        }
        var (fields, refusal) = await ValidateAsync(body, store, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var pool = await store.CreateAsync(body.Name, body.Description ?? "", fields.Queues ?? [], fields.Projects ?? [],
            body.ExcludePrivate ?? false, body.ApprovalRequired ?? false, ct);
        if (pool is null)
        {
            return ApiProblems.Conflict("name", $"a pool named '{body.Name}' exists; change it with 'kiln pool set {body.Name}'");
        }
        await audit.RecordAsync(Caller.Of(http).Actor, "pool.create", $"pool:{pool.Name}", pool, ct);
        return TypedResults.Ok(pool);
    }

    private static async Task<IResult> UpdateAsync(string name, HttpContext http, PoolStore store, WorkerStore workers, AuditStore audit, CancellationToken ct)
    {
        if (InvalidName(name) is { } invalid)
        {
            return invalid;
        }
        var (body, problem) = await ApiJson.ReadAsync<PoolRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Name is not null && body.Name != name)
        {
            return ApiProblems.Invalid("name", "a pool keeps its name; leave it out (or give the same name)");
        }
        var (fields, refusal) = await ValidateAsync(body, store, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        if (await store.UpdateAsync(name, body.Description, fields.Queues, fields.Projects, body.ExcludePrivate, body.ApprovalRequired, ct) is not { } pool)
        {
            return UnknownPool(name);
        }
        // Claims read the pool themselves; what this replica cached for the pool's workers (the
        // projects they may read) is dropped now, other replicas' within WorkerStore.CacheFor.
        workers.ForgetPool(pool.Id);
        await audit.RecordAsync(Caller.Of(http).Actor, "pool.update", $"pool:{name}", body, ct);
        return TypedResults.Ok(pool);
    }

    private static async Task<IResult> DeleteAsync(string name, HttpContext http, PoolStore store, AuditStore audit, CancellationToken ct)
    {
        if (InvalidName(name) is { } invalid)
        {
            return invalid;
        }
        if (name == PoolStore.DefaultPool)
        {
            return ApiProblems.Conflict("the default pool cannot be deleted: workers registering with the farm-wide token enrol into it");
        }
        if (await store.DeleteAsync(name, ct) is not var (_, count))
        {
            return UnknownPool(name);
        }
        if (count > 0)
        {
            return ApiProblems.Conflict($"pool '{name}' has {count} worker(s); remove them first ('kiln worker remove NAME'; 'kiln workers' shows each worker's pool)");
        }
        await audit.RecordAsync(Caller.Of(http).Actor, "pool.delete", $"pool:{name}", null, ct);
        return TypedResults.Ok(new ActionResponse(1, $"pool '{name}' deleted, with its registration tokens"));
    }

    private static async Task<IResult> CreateTokenAsync(string name, HttpContext http, PoolStore store, RegistrationTokenStore tokens, AuditStore audit, TimeProvider time, CancellationToken ct)
    {
        if (InvalidName(name) is { } invalid)
        {
            return invalid;
        }
        var (body, problem) = await ApiJson.ReadAsync<CreateRegistrationTokenRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Comment is { Length: > MaxComment })
        {
            return ApiProblems.Invalid("comment", $"at most {MaxComment} characters");
        }
        if (body.ExpiresInDays is < 1 or > 3650)
        {
            return ApiProblems.Invalid("expiresInDays", "must be 1 to 3650 days, or left out for a token that does not expire");
        }
        if (await store.GetAsync(name, ct) is not { } pool)
        {
            return UnknownPool(name);
        }
        var caller = Caller.Of(http);
        DateTimeOffset? expires = body.ExpiresInDays is { } days ? time.GetUtcNow().AddDays(days) : null;
        var created = await tokens.CreateAsync(pool.Id, body.Comment ?? "", expires, caller.User?.UserId, ct);
        await audit.RecordAsync(caller.Actor, "registration-token.create", $"registration-token:{created.Token.Id}",
            new { pool = name, prefix = created.Token.Prefix, expiresAt = expires, comment = created.Token.Comment }, ct);
        return TypedResults.Ok(created);
    }

    private static async Task<IResult> ListTokensAsync(string? pool, string? limit, string? after, PoolStore store, RegistrationTokenStore tokens, CancellationToken ct)
    {
        var (n, cursor, problem) = ListQuery.Parse(limit, after);
        if (problem is not null)
        {
            return problem;
        }
        long? poolId = null;
        if (pool is not null)
        {
            if (InvalidName(pool) is not null || await store.GetAsync(pool, ct) is not { } found)
            {
                return ApiProblems.Invalid("pool", $"no pool named '{pool}'; 'kiln pool list' lists them");
            }
            poolId = found.Id;
        }
        return TypedResults.Ok(await tokens.ListAsync(poolId, cursor, n, ct));
    }

    private static async Task<IResult> RevokeTokenAsync(long id, HttpContext http, RegistrationTokenStore tokens, AuditStore audit, CancellationToken ct)
    {
        if (await tokens.RevokeAsync(id, ct) is not { } changed)
        {
            return ApiProblems.NotFound($"no registration token {id.ToString(CultureInfo.InvariantCulture)}; 'kiln worker token list' lists them");
        }
        if (changed)
        {
            await audit.RecordAsync(Caller.Of(http).Actor, "registration-token.revoke", $"registration-token:{id.ToString(CultureInfo.InvariantCulture)}", null, ct);
        }
        return TypedResults.Ok(changed
            ? new ActionResponse(1, $"registration token {id.ToString(CultureInfo.InvariantCulture)} revoked: it enrols no more workers; workers it enrolled keep working (disable one with 'kiln worker disable NAME')")
            : new ActionResponse(0, $"registration token {id.ToString(CultureInfo.InvariantCulture)} was already revoked"));
    }

    private static async Task<IResult> SetTrustAsync(
        string name, string pool, bool trusted, HttpContext http, PoolStore store, AccessStore access, ProjectAccess check, AuditStore audit, CancellationToken ct)
    {
        if (!Names.Identifier().IsMatch(name) || name.Length > 100)
        {
            return ApiProblems.Invalid("name", "a project name uses letters, digits, '.', '_' or '-' (at most 100)");
        }
        if (InvalidName(pool) is not null)
        {
            return ApiProblems.Invalid("pool", "a pool name uses letters, digits, '.', '_' or '-' (at most 100)");
        }
        if (await check.ProjectAsync(http, name, ProjectNeed.Own) is { } refused)
        {
            return refused;
        }
        var project = (await access.OfProjectAsync(name, ct))!;
        if (await store.GetAsync(pool, ct) is not { } found)
        {
            return UnknownPool(pool);
        }
        var changed = await store.SetTrustAsync(project.ProjectId, found.Id, trusted, ct);
        if (changed)
        {
            await audit.RecordAsync(Caller.Of(http).Actor, trusted ? "project.trust" : "project.untrust", $"project:{name}", new { pool }, ct);
        }
        var message = (trusted, changed) switch
        {
            (true, true) => $"project '{name}' trusts pool '{pool}': its jobs that name secrets may run there",
            (true, false) => $"project '{name}' already trusts pool '{pool}'",
            (false, true) => $"project '{name}' no longer trusts pool '{pool}': its jobs that name secrets no longer go there",
            _ => $"project '{name}' did not trust pool '{pool}'; nothing changed",
        };
        return TypedResults.Ok(new ActionResponse(changed ? 1 : 0, message));
    }

    /// <summary>Bounds and resolves the lists of a create or update; project names become ids.</summary>
    private static async Task<((string[]? Queues, long[]? Projects) Fields, IResult? Refusal)> ValidateAsync(PoolRequest body, PoolStore store, CancellationToken ct)
    {
        var errors = new List<ValidationError>();
        if (body.Description is { Length: > MaxDescription })
        {
            errors.Add(new("description", $"at most {MaxDescription} characters"));
        }
        if (body.Queues is { } queues && (queues.Count > MaxListed || queues.Any(q => q is null || InvalidName(q) is not null)))
        {
            errors.Add(new("queues", $"at most {MaxListed} queue names of letters, digits, '.', '_' or '-' (an empty list: every queue)"));
        }
        if (body.Projects is { } names && (names.Count > MaxListed || names.Any(p => p is null || InvalidName(p) is not null)))
        {
            errors.Add(new("projects", $"at most {MaxListed} project names of letters, digits, '.', '_' or '-' (an empty list: every project)"));
        }
        if (errors.Count > 0)
        {
            return ((null, null), ApiProblems.Invalid(errors));
        }
        long[]? ids = null;
        if (body.Projects is { Count: > 0 } projects)
        {
            var (found, missing) = await store.ProjectIdsAsync(projects, ct);
            if (missing.Count > 0)
            {
                return ((null, null), ApiProblems.Invalid("projects", $"no project named {string.Join(", ", missing.Select(m => $"'{m}'"))}; 'kiln project list' lists them"));
            }
            ids = found;
        }
        else if (body.Projects is not null)
        {
            ids = [];
        }
        return ((body.Queues is null ? null : [.. body.Queues.Distinct()], ids), null);
    }

    private static IResult? InvalidName(string name) => Names.Identifier().IsMatch(name) && name.Length <= 100
        ? null
        : ApiProblems.Invalid("name", "a pool name uses letters, digits, '.', '_' or '-' (at most 100)");

    private static IResult UnknownPool(string name) => ApiProblems.NotFound($"no pool named '{name}'; 'kiln pool list' lists them");
}
