using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Kiln.Server.Hosting;

namespace Kiln.Cli.Commands;

/// <summary>
/// The status outbox's options of <c>kiln server</c> (docs/status-reports.md): the spacing between
/// two writes of one forge installation or webhook, the timeout of one write, and the public URL
/// statuses link to. Each an option, else an environment variable, else the default.
/// </summary>
public sealed partial class StatusReportingCliOptions
{
    private static readonly KilnServerOptions Defaults = new();

    private readonly Option<string?> _spacing = new("--status-spacing")
    {
        Description = "Least time between two writes to one forge installation, token or webhook, like 1s or 250ms (default: $KILN_STATUS_SPACING or 1s, GitHub's guidance)",
    };

    private readonly Option<string?> _timeout = new("--status-timeout")
    {
        Description = "How long one status or webhook write may take before it is retried, like 10s (default: $KILN_STATUS_TIMEOUT or 10s)",
    };

    private readonly Option<string?> _publicUrl = new("--public-url")
    {
        Description = "The address users reach this farm at, for the links in forge statuses and webhooks (default: $KILN_PUBLIC_URL, else the first --urls address)",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_spacing);
        command.Options.Add(_timeout);
        command.Options.Add(_publicUrl);
    }

    /// <summary><paramref name="options"/> with the values asked for; throws <see cref="CliException"/> naming a bad one.</summary>
    public KilnServerOptions Apply(ParseResult parse, KilnServerOptions options)
    {
        var spacing = Duration(parse.GetValue(_spacing) ?? Env("KILN_STATUS_SPACING"), "--status-spacing", TimeSpan.Zero, TimeSpan.FromMinutes(10)) ?? Defaults.StatusSpacing;
        var timeout = Duration(parse.GetValue(_timeout) ?? Env("KILN_STATUS_TIMEOUT"), "--status-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5)) ?? Defaults.StatusTimeout;
        var publicUrl = parse.GetValue(_publicUrl) ?? Env("KILN_PUBLIC_URL");
        if (publicUrl is not null && (!Uri.TryCreate(publicUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || publicUrl.Length > 500))
        {
            throw new CliException($"--public-url must be an http:// or https:// URL (at most 500 characters), not '{publicUrl}'", 2);
        }
        return options with { StatusSpacing = spacing, StatusTimeout = timeout, PublicUrl = publicUrl?.TrimEnd('/') };
    }

    /// <summary>A duration like 250ms, 1s, 2m; null when not given.</summary>
    internal static TimeSpan? Duration(string? text, string name, TimeSpan min, TimeSpan max)
    {
        if (text is null)
        {
            return null;
        }
        var match = DurationPattern().Match(text.Trim());
        if (!match.Success)
        {
            throw new CliException($"{name} must be a duration like 250ms, 1s or 2m, not '{text}'", 2);
        }
        var n = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var value = match.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(n),
            "m" => TimeSpan.FromMinutes(n),
            _ => TimeSpan.FromSeconds(n),
        };
        if (value < min || value > max)
        {
            throw new CliException($"{name} must be between {min.TotalMilliseconds:0} ms and {max.TotalSeconds:0} s, not '{text}'", 2);
        }
        return value;
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    [GeneratedRegex(@"^(\d{1,6}(?:\.\d{1,3})?)(ms|s|m)$")]
    private static partial Regex DurationPattern();
}
