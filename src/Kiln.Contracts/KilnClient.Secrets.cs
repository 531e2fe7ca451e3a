using System.Text;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    /// <summary>Sets (creates or replaces) project <paramref name="project"/>'s secret <paramref name="name"/>; the value is sent as the raw body, never in the URL.</summary>
    public Task<SecretView> SetSecretAsync(string project, string name, string value, CancellationToken ct) =>
        SendAsync<SecretView>(HttpMethod.Put, SecretPath(project, name), new StringContent(value, new UTF8Encoding(false), "text/plain"), DefaultCallTimeout, ct);

    /// <summary>The project's secrets by name, with who set them when; never their values.</summary>
    public Task<IReadOnlyList<SecretView>> ListSecretsAsync(string project, CancellationToken ct) =>
        GetAsync<IReadOnlyList<SecretView>>($"api/v1/projects/{Uri.EscapeDataString(project)}/secrets/", ct);

    public Task<ActionResponse> DeleteSecretAsync(string project, string name, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, SecretPath(project, name), null, DefaultCallTimeout, ct);

    private static string SecretPath(string project, string name) =>
        $"api/v1/projects/{Uri.EscapeDataString(project)}/secrets/{Uri.EscapeDataString(name)}";
}
