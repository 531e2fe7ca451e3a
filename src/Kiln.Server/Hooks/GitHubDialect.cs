using System.Text.Json;
using System.Text.RegularExpressions;
using Kiln.Contracts;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Hooks;

/// <summary>
/// GitHub webhooks: <c>X-GitHub-Event</c>, <c>X-GitHub-Delivery</c> (a GUID, the same on a
/// redelivery), <c>X-Hub-Signature-256: sha256=HEX</c> (HMAC-SHA256 of the body with the hook's
/// secret). Push (branches and tags: refs/tags/…), pull_request (opened, reopened, synchronize),
/// release (published) and ping are read; the rest is stored and ignored.
/// </summary>
internal sealed partial class GitHubDialect : ForgeDialect
{

    public override string Source => EventSources.GitHub;

    public override string Title => "GitHub";

    public override string EventHeader => "X-GitHub-Event";

    public override string DeliveryHeader => "X-GitHub-Delivery";

    public override IReadOnlyList<string> KeptHeaders { get; } =
        ["X-GitHub-Event", "X-GitHub-Delivery", "X-GitHub-Hook-ID", "X-GitHub-Hook-Installation-Target-ID", "X-GitHub-Hook-Installation-Target-Type", "User-Agent", "Content-Type"];

    public override string? EventName(IHeaderDictionary headers) => Header(headers, "X-GitHub-Event");

    public override string? DeliveryKey(IHeaderDictionary headers) => Header(headers, "X-GitHub-Delivery");

    public override bool Signed(IHeaderDictionary headers) => Header(headers, "X-Hub-Signature-256") is not null;

    public override bool Verify(IHeaderDictionary headers, ReadOnlySpan<byte> body, byte[] secret, DateTimeOffset now) =>
        HexHmacMatches(Header(headers, "X-Hub-Signature-256"), "sha256=", body, secret);

    public override (string? Repository, string? Owner) Target(string eventName, JsonElement root)
    {
        if (Payload.Text(root, "repository.full_name", 255) is { } repository)
        {
            return (repository, null);
        }
        // An organisation's hook pings without a repository: any link of the organisation's may own it.
        return eventName == "ping" && Payload.Text(root, "organization.login", 100) is { } org && Login().IsMatch(org) ? (null, org) : (null, null);
    }

    public override string TypeForRecord(string? eventName) => eventName is "push" or "pull_request" or "release" or "ping" ? eventName : eventName ?? "unknown";

    public override ForgeReading Read(string eventName, JsonElement root)
    {
        var facts = new EventFacts
        {
            Repository = Payload.Text(root, "repository.full_name", 255),
            Sender = Payload.Text(root, "sender.login", 100),
            CloneUrl = Payload.Text(root, "repository.clone_url"),
            DefaultBranch = Payload.Text(root, "repository.default_branch", 255),
            Action = Payload.Text(root, "action", 100),
        };
        switch (eventName)
        {
            case "ping":
                return new ForgeReading(EventTypes.Ping, facts, "a ping: the hook reaches Kiln and its secret verifies; a ping builds nothing");
            case "push":
            {
                var @ref = Payload.Ref(root, "ref");
                var after = Payload.Sha(root, "after") ?? throw new MalformedPayloadException("after", "is missing");
                var deleted = Payload.Flag(root, "deleted") == true || Payload.IsZero(after);
                // An annotated tag's "after" is the tag object; its commit is the head commit (what a tag listing shows).
                var sha = deleted ? null : Payload.Sha(root, "head_commit.id") is { } head && @ref.StartsWith("refs/tags/", StringComparison.Ordinal) ? head : after;
                return Push(Source, @ref, facts with
                {
                    Ref = @ref, Sha = sha, Before = Payload.Sha(root, "before"), Deleted = deleted ? true : null,
                    Sender = facts.Sender ?? Payload.Text(root, "pusher.name", 100),
                });
            }
            case "pull_request":
                return PullRequest(root, facts);
            case "release":
                return Release(root, facts);
            default:
                return new ForgeReading(eventName, facts, $"GitHub event '{eventName}' is not one Kiln acts on (push, pull_request, release, ping)");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")]
    private static partial Regex Login();
}
