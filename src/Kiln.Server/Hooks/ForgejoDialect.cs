using System.Text.Json;
using Kiln.Contracts;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Hooks;

/// <summary>
/// Forgejo and Gitea webhooks: <c>X-Forgejo-Event</c>/<c>X-Gitea-Event</c>,
/// <c>X-Forgejo-Delivery</c>/<c>X-Gitea-Delivery</c>, and <c>X-Forgejo-Signature</c>/<c>X-Gitea-Signature</c>:
/// the hex HMAC-SHA256 of the body with the hook's secret, without a prefix. Push (branches and
/// tags), pull_request (opened, reopened, synchronized) and release (published) are read.
/// </summary>
internal sealed class ForgejoDialect : ForgeDialect
{
    public override string Source => EventSources.Forgejo;

    public override string Title => "Forgejo";

    public override string EventHeader => "X-Forgejo-Event";

    public override string DeliveryHeader => "X-Forgejo-Delivery";

    public override IReadOnlyList<string> KeptHeaders { get; } =
        ["X-Forgejo-Event", "X-Forgejo-Event-Type", "X-Forgejo-Delivery", "X-Gitea-Event", "X-Gitea-Delivery", "User-Agent", "Content-Type"];

    public override string? EventName(IHeaderDictionary headers) => Header(headers, "X-Forgejo-Event") ?? Header(headers, "X-Gitea-Event");

    public override string? DeliveryKey(IHeaderDictionary headers) => Header(headers, "X-Forgejo-Delivery") ?? Header(headers, "X-Gitea-Delivery");

    public override bool Signed(IHeaderDictionary headers) => Signature(headers) is not null;

    public override bool Verify(IHeaderDictionary headers, ReadOnlySpan<byte> body, byte[] secret, DateTimeOffset now) =>
        HexHmacMatches(Signature(headers), "", body, secret);

    private static string? Signature(IHeaderDictionary headers) => Header(headers, "X-Forgejo-Signature") ?? Header(headers, "X-Gitea-Signature");

    public override (string? Repository, string? Owner) Target(string eventName, JsonElement root) => (Payload.Text(root, "repository.full_name", 255), null);

    public override string TypeForRecord(string? eventName) => eventName ?? "unknown";

    public override ForgeReading Read(string eventName, JsonElement root)
    {
        var facts = new EventFacts
        {
            Repository = Payload.Text(root, "repository.full_name", 255),
            Sender = Payload.Text(root, "sender.login", 100) ?? Payload.Text(root, "pusher.login", 100),
            CloneUrl = Payload.Text(root, "repository.clone_url"),
            DefaultBranch = Payload.Text(root, "repository.default_branch", 255),
            Action = Payload.Text(root, "action", 100) is "synchronized" ? "synchronize" : Payload.Text(root, "action", 100),
        };
        switch (eventName)
        {
            case "push":
            {
                var @ref = Payload.Ref(root, "ref");
                var after = Payload.Sha(root, "after") ?? throw new MalformedPayloadException("after", "is missing");
                var deleted = Payload.IsZero(after);
                var sha = deleted ? null : Payload.Sha(root, "head_commit.id") is { } head && @ref.StartsWith("refs/tags/", StringComparison.Ordinal) ? head : after;
                return Push(Source, @ref, facts with { Ref = @ref, Sha = sha, Before = Payload.Sha(root, "before"), Deleted = deleted ? true : null });
            }
            case "pull_request":
                return PullRequest(root, facts);
            case "release":
                return Release(root, facts);
            default:
                return new ForgeReading(eventName, facts, $"Forgejo event '{eventName}' is not one Kiln acts on (push, pull_request, release); a tag or branch creation also arrives as a push");
        }
    }
}
