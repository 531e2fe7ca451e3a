namespace Kiln.Contracts;

/// <summary>Register (or replace) the GitHub App a farm writes check runs as, for one GitHub API URL.</summary>
/// <param name="ApiUrl">The GitHub API URL (https://api.github.com, or a GitHub Enterprise one).</param>
/// <param name="AppId">The App's numeric id.</param>
/// <param name="PrivateKey">The App's private key, PEM (RSA). Stored sealed, never shown again.</param>
public sealed record SetForgeAppRequest(string? ApiUrl, string? AppId, string? PrivateKey);

/// <summary>A registered GitHub App, without its key.</summary>
public sealed record ForgeAppView(string ApiUrl, string Forge, string AppId, string? CreatedBy, DateTimeOffset CreatedAt);
