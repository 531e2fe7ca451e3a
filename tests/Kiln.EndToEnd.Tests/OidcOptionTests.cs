namespace Kiln.EndToEnd.Tests;

/// <summary>An incomplete or unsafe OpenID Connect setup is refused by <c>kiln server</c> in one line, before anything starts.</summary>
public sealed class OidcOptionTests
{
    [Theory]
    [InlineData("http://id.example.org/realms/farm", "--oidc-authority must be an https:// URL (http:// only on this machine)")]
    [InlineData("https://id.example.org/realms/farm", "--oidc-authority needs --oidc-client-id")]
    public async Task A_provider_that_is_not_https_or_lacks_its_client_is_a_usage_error_naming_the_option(string authority, string says)
    {
        var (exit, _, stderr) = await KilnProcess.RunSplitAsync(["server", "--oidc-authority", authority, "--data-dir", Path.Combine(Path.GetTempPath(), $"kiln-oidc-{Guid.NewGuid():N}")]);
        Assert.True(exit == 2, stderr);
        Assert.Contains(says, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}
