using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Security;

public static class AccessPolicies
{
    /// <summary>
    /// Refuses to start a server with an endpoint that declares no <see cref="AccessPolicy"/>: an
    /// endpoint nobody thought about must not be reachable by everyone. Every test starts a server,
    /// so a new endpoint without a policy fails them all.
    /// </summary>
    public static void Verify(IEnumerable<EndpointDataSource> sources)
    {
        var missing = sources.SelectMany(s => s.Endpoints)
            .OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<AccessMetadata>() is null)
            .Select(e => $"{string.Join(",", e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? [])} {e.RoutePattern.RawText}")
            .ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"endpoints without an access policy (declare one with .Allow(AccessPolicy.…)): {string.Join("; ", missing)}");
        }
    }
}
