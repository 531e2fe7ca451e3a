using System.CommandLine;
using Kiln.Server.Hosting;

namespace Kiln.Cli.Commands;

/// <summary><c>--secrets-key-file</c> of <c>kiln server</c> and <c>kiln up</c> (KILN_SECRETS_KEY_FILE): where the key sealing project secrets is kept, outside the database.</summary>
public sealed class SecretsKeyOption
{
    private readonly Option<string?> _file = new("--secrets-key-file")
    {
        Description = "Key file sealing project secrets, kept apart from the database; created 0600 if missing (default: $KILN_SECRETS_KEY_FILE, else DATA_DIR/secrets.key)",
    };

    public void AddTo(Command command) => command.Options.Add(_file);

    public KilnServerOptions Apply(ParseResult parse, KilnServerOptions options) => options with
    {
        SecretsKeyFile = parse.GetValue(_file) ?? (Environment.GetEnvironmentVariable("KILN_SECRETS_KEY_FILE") is { Length: > 0 } v ? v : null),
    };
}
