using System.CommandLine;
using Kiln.Server.Hosting;
using Kiln.Server.Web;

namespace Kiln.Cli.Commands;

/// <summary>
/// Browser sign-in through an OpenID Connect provider, for <c>kiln server</c> (docs/ui.md): the
/// provider's issuer URL, this farm's client id and the file holding its client secret, the claim
/// naming the Kiln user, and the provider's name on the button. Each an option, else an
/// environment variable; without an authority the web interface takes API tokens only.
/// </summary>
public sealed class OidcCliOptions
{
    private readonly Option<string?> _authority = new("--oidc-authority")
    {
        Description = "Issuer URL of an OpenID Connect provider for browser sign-in, like https://id.example.org/realms/farm (default: $KILN_OIDC_AUTHORITY; none: tokens only)",
    };

    private readonly Option<string?> _clientId = new("--oidc-client-id") { Description = "This farm's client id at the provider (default: $KILN_OIDC_CLIENT_ID)" };

    private readonly Option<string?> _secretFile = new("--oidc-client-secret-file")
    {
        Description = "File holding this farm's client secret at the provider, never the secret itself on the command line (default: $KILN_OIDC_CLIENT_SECRET_FILE)",
    };

    private readonly Option<string?> _claim = new("--oidc-username-claim")
    {
        Description = "The claim that names the Kiln user (default: $KILN_OIDC_USERNAME_CLAIM or preferred_username)",
    };

    private readonly Option<string?> _name = new("--oidc-name") { Description = "The provider's name on the sign-in button (default: $KILN_OIDC_NAME or 'OpenID Connect')" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _authority, _clientId, _secretFile, _claim, _name })
        {
            command.Options.Add(option);
        }
    }

    /// <summary><paramref name="options"/> with the provider asked for, if any; throws <see cref="CliException"/> naming what is missing or bad.</summary>
    public KilnServerOptions Apply(ParseResult parse, KilnServerOptions options)
    {
        var authority = parse.GetValue(_authority) ?? Env("KILN_OIDC_AUTHORITY");
        if (authority is null)
        {
            return options;
        }
        if (!Uri.TryCreate(authority, UriKind.Absolute, out var url) || authority.Length > 500
            || !(url.Scheme == "https" || OidcSignIn.IsLoopbackHttp(authority)))
        {
            throw new CliException($"--oidc-authority must be an https:// URL (http:// only on this machine), not '{authority}'", 2);
        }
        var clientId = parse.GetValue(_clientId) ?? Env("KILN_OIDC_CLIENT_ID")
            ?? throw new CliException("--oidc-authority needs --oidc-client-id (the id the provider gave this farm)", 2);
        var secretFile = parse.GetValue(_secretFile) ?? Env("KILN_OIDC_CLIENT_SECRET_FILE")
            ?? throw new CliException("--oidc-authority needs --oidc-client-secret-file (a file holding the client secret)", 2);
        string secret;
        try
        {
            secret = File.ReadAllText(secretFile).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--oidc-client-secret-file: cannot read '{secretFile}': {e.Message}", 2);
        }
        if (secret.Length is 0 or > 4096)
        {
            throw new CliException($"--oidc-client-secret-file: '{secretFile}' must hold the client secret (1 to 4096 characters)", 2);
        }
        var claim = parse.GetValue(_claim) ?? Env("KILN_OIDC_USERNAME_CLAIM") ?? "preferred_username";
        var name = parse.GetValue(_name) ?? Env("KILN_OIDC_NAME") ?? "OpenID Connect";
        if (claim.Length > 100 || name.Length > 100)
        {
            throw new CliException("--oidc-username-claim and --oidc-name take at most 100 characters", 2);
        }
        return options with { Oidc = new OidcOptions(authority, clientId, secret, claim, name) };
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
