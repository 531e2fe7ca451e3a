using Microsoft.AspNetCore.Http;

namespace Kiln.Testing;

/// <summary>GitLab's and Forgejo's commit status APIs on the fake forge.</summary>
internal sealed partial class FakeForgeApi
{
    private Task<bool> CommitStatusRouteAsync(HttpContext http, string[] s) => Task.FromResult(false);
}
