using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Hooks;

/// <summary>
/// GitLab webhooks: <c>X-Gitlab-Event</c> ("Push Hook", "Tag Push Hook", "Merge Request Hook",
/// "Release Hook"), the delivery's <c>Idempotency-Key</c> (the same on every retry) else
/// <c>X-Gitlab-Event-UUID</c>, and the hook's secret token in <c>X-Gitlab-Token</c>. A hook with a
/// signing token also sends the Standard Webhooks headers (<c>webhook-id</c>,
/// <c>webhook-timestamp</c>, <c>webhook-signature: v1,BASE64</c> over "id.timestamp.body"); when
/// present they must verify too, and their timestamp be within five minutes.
/// </summary>
internal sealed class GitLabDialect : ForgeDialect
{
    /// <summary>How far a Standard Webhooks timestamp may be from now (the specification's suggestion).</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    public override string Source => EventSources.GitLab;

    public override string Title => "GitLab";

    public override string EventHeader => "X-Gitlab-Event";

    public override string DeliveryHeader => "Idempotency-Key or X-Gitlab-Event-UUID";

    public override IReadOnlyList<string> KeptHeaders { get; } =
        ["X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID", "X-Gitlab-Instance", "Idempotency-Key", "webhook-id", "webhook-timestamp", "User-Agent", "Content-Type"];

    public override string? EventName(IHeaderDictionary headers) => Header(headers, "X-Gitlab-Event");

    public override string? DeliveryKey(IHeaderDictionary headers) => Header(headers, "Idempotency-Key") ?? Header(headers, "X-Gitlab-Event-UUID");

    public override bool Signed(IHeaderDictionary headers) => Header(headers, "X-Gitlab-Token") is not null || Header(headers, "webhook-signature") is not null;

    public override bool Verify(IHeaderDictionary headers, ReadOnlySpan<byte> body, byte[] secret, DateTimeOffset now)
    {
        var token = Header(headers, "X-Gitlab-Token");
        var signature = Header(headers, "webhook-signature");
        // Each one sent must verify (both with the link's one secret); the token's check is done either way.
        var tokenOk = token is null || TokenMatches(token, secret);
        var signatureOk = signature is null || StandardSignatureMatches(headers, signature, body, secret, now);
        return tokenOk & signatureOk & (token is not null || signature is not null);
    }

    /// <summary>
    /// Standard Webhooks: HMAC-SHA256 of "webhook-id.webhook-timestamp.body", base64, one or more
    /// "v1,SIG" separated by spaces; the key is the base64 after "whsec_" when the secret has that
    /// prefix, else the secret's bytes.
    /// </summary>
    private static bool StandardSignatureMatches(IHeaderDictionary headers, string signature, ReadOnlySpan<byte> body, byte[] secret, DateTimeOffset now)
    {
        if (Header(headers, "webhook-id") is not { } id || Header(headers, "webhook-timestamp") is not { } stamp
            || !long.TryParse(stamp, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            || seconds > 253402300799 || (now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > Tolerance)
        {
            return false;
        }
        var key = KeyOf(secret);
        var prefix = Encoding.UTF8.GetBytes($"{id}.{stamp}.");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(body);
        var expected = hmac.GetHashAndReset();
        var matched = false;
        Span<byte> given = stackalloc byte[32];
        foreach (var part in signature.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.StartsWith("v1,", StringComparison.Ordinal) && Convert.TryFromBase64String(part[3..], given, out var written) && written == 32)
            {
                matched |= CryptographicOperations.FixedTimeEquals(given, expected);
            }
        }
        return matched;
    }

    private static byte[] KeyOf(byte[] secret)
    {
        var text = Encoding.UTF8.GetString(secret);
        if (text.StartsWith("whsec_", StringComparison.Ordinal))
        {
            var key = new byte[text.Length];
            if (Convert.TryFromBase64String(text["whsec_".Length..], key, out var written))
            {
                return key[..written];
            }
        }
        return secret;
    }

    public override (string? Repository, string? Owner) Target(string eventName, JsonElement root) => (Payload.Text(root, "project.path_with_namespace", 255), null);

    public override string TypeForRecord(string? eventName) => eventName switch
    {
        "Push Hook" => EventTypes.Push,
        "Tag Push Hook" => EventTypes.Tag,
        "Merge Request Hook" => EventTypes.PullRequest,
        "Release Hook" => EventTypes.Release,
        _ => eventName ?? "unknown",
    };

    public override ForgeReading Read(string eventName, JsonElement root)
    {
        var facts = new EventFacts
        {
            Repository = Payload.Text(root, "project.path_with_namespace", 255),
            Sender = Payload.Text(root, "user_username", 100) ?? Payload.Text(root, "user.username", 100),
            CloneUrl = Payload.Text(root, "project.git_http_url"),
            DefaultBranch = Payload.Text(root, "project.default_branch", 255),
        };
        switch (eventName)
        {
            case "Push Hook":
            case "Tag Push Hook":
            {
                var @ref = Payload.Ref(root, "ref");
                var after = Payload.Sha(root, "after") ?? throw new MalformedPayloadException("after", "is missing");
                var deleted = Payload.IsZero(after);
                // checkout_sha is the commit (for an annotated tag, "after" is the tag object).
                var sha = deleted ? null : Payload.Sha(root, "checkout_sha") ?? after;
                return Push(Source, @ref, facts with { Ref = @ref, Sha = sha, Before = Payload.Sha(root, "before"), Deleted = deleted ? true : null });
            }
            case "Merge Request Hook":
            {
                var action = Payload.Text(root, "object_attributes.action", 100);
                // "update" is also sent for a title or label change; only one with new commits (oldrev) is a synchronize.
                var normalised = action switch
                {
                    "open" => "opened",
                    "reopen" => "reopened",
                    "update" when Payload.Find(root, "object_attributes.oldrev") is not null => "synchronize",
                    _ => action,
                };
                var iid = Payload.Number(root, "object_attributes.iid") ?? throw new MalformedPayloadException("object_attributes.iid", "is missing");
                var merge = facts with
                {
                    Action = normalised,
                    PullRequest = iid,
                    Ref = $"refs/merge-requests/{Payload.Invariant(iid)}/head",
                    Branch = Payload.Required(root, "object_attributes.source_branch", 255),
                    BaseBranch = Payload.Required(root, "object_attributes.target_branch", 255),
                    Sha = Payload.Sha(root, "object_attributes.last_commit.id") ?? throw new MalformedPayloadException("object_attributes.last_commit.id", "is missing"),
                    CloneUrl = Payload.Text(root, "object_attributes.source.git_http_url") ?? facts.CloneUrl,
                };
                return new ForgeReading(EventTypes.PullRequest, merge, normalised is "opened" or "reopened" or "synchronize"
                    ? null : $"merge request action '{action}' is not one Kiln acts on (open, reopen, update with new commits)");
            }
            case "Release Hook":
            {
                var tag = Payload.Required(root, "tag", 255);
                var release = facts with { Action = Payload.Text(root, "action", 100), Tag = tag, Ref = $"refs/tags/{tag}", Sha = Payload.Sha(root, "commit.id") };
                return new ForgeReading(EventTypes.Release, release,
                    release.Action == "create" ? null : $"release action '{release.Action}' is not one Kiln acts on (create)");
            }
            default:
                return new ForgeReading(TypeForRecord(eventName), facts, $"GitLab event '{eventName}' is not one Kiln acts on (Push Hook, Tag Push Hook, Merge Request Hook, Release Hook)");
        }
    }
}
