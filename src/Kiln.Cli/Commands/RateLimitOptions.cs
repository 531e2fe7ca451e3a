using System.CommandLine;
using System.Globalization;
using Kiln.Server.Hosting;
using Kiln.Server.Security;

namespace Kiln.Cli.Commands;

/// <summary>
/// The rate limit options <c>kiln server</c> and <c>kiln up</c> share (docs/api.md, "Rate limits"):
/// each an option, else an environment variable, else the server's default; 0 = unlimited.
/// </summary>
public sealed class RateLimitOptions
{
    private static readonly KilnServerOptions Defaults = new();

    private readonly Option<int?> _token = new("--rate-limit")
    {
        Description = $"Requests a minute per API token, as a bucket of that many (default: $KILN_RATE_LIMIT or {Defaults.RateLimitPerMinute}; 0 = unlimited)",
    };

    private readonly Option<int?> _anonymous = new("--anonymous-rate-limit")
    {
        Description = $"Requests a minute per client address without a token (default: $KILN_ANONYMOUS_RATE_LIMIT or {Defaults.AnonymousRateLimitPerMinute}; 0 = unlimited)",
    };

    private readonly Option<int?> _worker = new("--worker-rate-limit")
    {
        Description = $"Worker protocol requests a minute per worker (default: $KILN_WORKER_RATE_LIMIT or {Defaults.WorkerRateLimitPerMinute}; 0 = unlimited)",
    };

    private readonly Option<int?> _event = new("--event-rate-limit")
    {
        Description = $"Event intake requests a minute per token, e.g. a bus bridge posting Koji messages (default: $KILN_EVENT_RATE_LIMIT or {Defaults.EventRateLimitPerMinute}; 0 = unlimited)",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_event);
        command.Options.Add(_token);
        command.Options.Add(_anonymous);
        command.Options.Add(_worker);
    }

    /// <summary><paramref name="options"/> with the limits asked for; throws <see cref="CliException"/> naming a bad one.</summary>
    public KilnServerOptions Apply(ParseResult parse, KilnServerOptions options) => options with
    {
        RateLimitPerMinute = Value(parse, _token, "KILN_RATE_LIMIT", Defaults.RateLimitPerMinute),
        AnonymousRateLimitPerMinute = Value(parse, _anonymous, "KILN_ANONYMOUS_RATE_LIMIT", Defaults.AnonymousRateLimitPerMinute),
        WorkerRateLimitPerMinute = Value(parse, _worker, "KILN_WORKER_RATE_LIMIT", Defaults.WorkerRateLimitPerMinute),
        EventRateLimitPerMinute = Value(parse, _event, "KILN_EVENT_RATE_LIMIT", Defaults.EventRateLimitPerMinute),
    };

    private static int Value(ParseResult parse, Option<int?> option, string variable, int fallback)
    {
        int value;
        if (parse.GetValue(option) is { } given)
        {
            value = given;
        }
        else if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } text)
        {
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value))
            {
                throw new CliException($"{variable} must be a whole number of requests a minute (0 = unlimited), not '{text}'", 2);
            }
        }
        else
        {
            return fallback;
        }
        return value is >= 0 and <= RateLimits.MaxPerMinute
            ? value
            : throw new CliException($"{option.Name} must be 0 (unlimited) to {RateLimits.MaxPerMinute} requests a minute, not {value}", 2);
    }
}
