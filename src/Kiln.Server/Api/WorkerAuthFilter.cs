using Kiln.Store.Engine;
using Kiln.Store.Workers;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Api;

/// <summary>Authenticates a worker by its bearer secret and makes its identity available to the endpoint.</summary>
public sealed class WorkerAuthFilter(WorkerStore workers) : IEndpointFilter
{
    private const string ItemKey = "kiln.worker";

    public static WorkerIdentity Worker(HttpContext context) => (WorkerIdentity)context.Items[ItemKey]!;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        context.HttpContext.Items.ContainsKey(ItemKey) || await AuthenticateAsync(context.HttpContext, workers) is not { } refusal
            ? await next(context)
            : refusal;

    /// <summary>
    /// Authenticates the worker (null) or answers why not. The access middleware calls it before
    /// the endpoint binds its parameters, so a bad secret is a 401 even when the query is wrong.
    /// </summary>
    public static async Task<IResult?> AuthenticateAsync(HttpContext http, WorkerStore workers)
    {
        var secret = BearerToken(http.Request);
        if (secret is null)
        {
            return ApiProblems.Unauthorized("workers authenticate with 'Authorization: Bearer <secret>' (the secret returned by /api/v1/workers/register)");
        }
        var worker = await workers.AuthenticateAsync(secret, http.RequestAborted);
        if (worker is null && await workers.DisabledNameAsync(secret, http.RequestAborted) is { } disabled)
        {
            return WorkerOperatorEndpoints.Disabled(disabled);
        }
        if (worker is null)
        {
            return ApiProblems.Unauthorized("unknown worker secret; register again with the farm's registration token");
        }
        http.Items[ItemKey] = worker;
        return null;
    }

    public static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 && header.Length < 512
            ? header[7..].Trim()
            : null;
    }
}
