using Microsoft.AspNetCore.Http;

namespace Kiln.Testing;

/// <summary>GitHub's status APIs on the fake forge: App installation tokens, check runs, commit statuses.</summary>
internal sealed partial class FakeForgeApi
{
    private Task<bool> GitHubStatusRouteAsync(HttpContext http, string[] s) => Task.FromResult(false);
}
