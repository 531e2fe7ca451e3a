using System.Security.Cryptography;
using System.Text.Json;
using Kiln.Contracts;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Hooks;

/// <summary>What a verified payload says, in Kiln's terms: the normalised type, the facts, and why it is ignored when it is.</summary>
internal sealed record ForgeReading(string Type, EventFacts Facts, string? IgnoredBecause = null);

/// <summary>
/// How one forge sends webhooks: which headers name the event and the delivery, how a delivery is
/// signed, where the payload names its repository, and how its events map onto <see cref="EventFacts"/>.
/// </summary>
internal abstract class ForgeDialect
{
    /// <summary>The source (github, gitlab, forgejo), also the last segment of the hook's path.</summary>
    public abstract string Source { get; }

    /// <summary>The forge's name in messages.</summary>
    public abstract string Title { get; }

    /// <summary>The header that names the event, for messages.</summary>
    public abstract string EventHeader { get; }

    /// <summary>The header(s) carrying the delivery's id, for messages.</summary>
    public abstract string DeliveryHeader { get; }

    /// <summary>Headers kept with the event (never a signature or a token).</summary>
    public abstract IReadOnlyList<string> KeptHeaders { get; }

    public abstract string? EventName(IHeaderDictionary headers);

    public abstract string? DeliveryKey(IHeaderDictionary headers);

    /// <summary>Whether the delivery carries a signature or token at all (without one: 401, "the hook has no secret").</summary>
    public abstract bool Signed(IHeaderDictionary headers);

    /// <summary>Whether <paramref name="secret"/> signed these exact bytes; in constant time.</summary>
    public abstract bool Verify(IHeaderDictionary headers, ReadOnlySpan<byte> body, byte[] secret, DateTimeOffset now);

    /// <summary>The repository the payload names (the only thing read before verification: it finds the secret), or the owner for an organisation-level ping.</summary>
    public abstract (string? Repository, string? Owner) Target(string eventName, JsonElement root);

    /// <summary>The normalised event; throws <see cref="MalformedPayloadException"/>.</summary>
    public abstract ForgeReading Read(string eventName, JsonElement root);

    /// <summary>The normalised type for a rejected delivery's record (push, tag, …, else the forge's name for it).</summary>
    public virtual string TypeForRecord(string? eventName) => eventName ?? "unknown";

    /// <summary>Hex HMAC-SHA256 of the body, compared in constant time (GitHub with a "sha256=" prefix, Forgejo without).</summary>
    protected static bool HexHmacMatches(string? header, string prefix, ReadOnlySpan<byte> body, byte[] secret)
    {
        if (header is null || !header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var hex = header.AsSpan(prefix.Length).Trim();
        Span<byte> given = stackalloc byte[32];
        if (hex.Length != 64 || Convert.FromHexString(hex, given, out _, out var written) != System.Buffers.OperationStatus.Done || written != 32)
        {
            return false;
        }
        Span<byte> expected = stackalloc byte[32];
        HMACSHA256.HashData(secret, body, expected);
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    /// <summary>A plain shared token (GitLab's X-Gitlab-Token), compared as SHA-256 digests in constant time, so not even its length shows.</summary>
    protected static bool TokenMatches(string? header, byte[] secret)
    {
        if (header is null)
        {
            return false;
        }
        Span<byte> given = stackalloc byte[32];
        Span<byte> expected = stackalloc byte[32];
        SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(header), given);
        SHA256.HashData(secret, expected);
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    protected static string? Header(IHeaderDictionary headers, string name) =>
        headers.TryGetValue(name, out var values) && values.Count > 0 && values[0] is { Length: > 0 } value ? value : null;

    /// <summary>A push's facts from its ref: a branch push or a tag push (other refs: ignored).</summary>
    protected static ForgeReading Push(string source, string @ref, EventFacts facts)
    {
        if (@ref.StartsWith("refs/tags/", StringComparison.Ordinal))
        {
            var tag = facts with { Tag = @ref["refs/tags/".Length..] };
            return new ForgeReading(EventTypes.Tag, tag, facts.Deleted == true ? $"the push deleted tag '{tag.Tag}': nothing to build" : null);
        }
        if (@ref.StartsWith("refs/heads/", StringComparison.Ordinal))
        {
            var branch = facts with { Branch = @ref["refs/heads/".Length..] };
            return new ForgeReading(EventTypes.Push, branch, facts.Deleted == true ? $"the push deleted branch '{branch.Branch}': nothing to build" : null);
        }
        return new ForgeReading(EventTypes.Push, facts, $"a push to '{@ref}', which is neither a branch nor a tag ({source})");
    }

    /// <summary>The pull request actions Kiln builds (Forgejo's "synchronized" is read as "synchronize").</summary>
    private static readonly string[] ActedPullRequests = ["opened", "reopened", "synchronize"];

    /// <summary>A pull_request payload as GitHub shapes it — and Forgejo and Gitea, which copy it.</summary>
    protected static ForgeReading PullRequest(JsonElement root, EventFacts facts)
    {
        var number = Payload.Number(root, "number") ?? Payload.Number(root, "pull_request.number") ?? throw new MalformedPayloadException("number", "is missing");
        var pull = facts with
        {
            PullRequest = number,
            Ref = $"refs/pull/{Payload.Invariant(number)}/head",
            Branch = Payload.Required(root, "pull_request.head.ref", 255),
            BaseBranch = Payload.Required(root, "pull_request.base.ref", 255),
            Sha = Payload.Sha(root, "pull_request.head.sha") ?? throw new MalformedPayloadException("pull_request.head.sha", "is missing"),
            CloneUrl = Payload.Text(root, "pull_request.head.repo.clone_url") ?? facts.CloneUrl,
        };
        return new ForgeReading(EventTypes.PullRequest, pull,
            ActedPullRequests.Contains(pull.Action) ? null : $"pull request action '{pull.Action}' is not one Kiln acts on (opened, reopened, synchronize)");
    }

    /// <summary>A release payload as GitHub shapes it (and Forgejo and Gitea): only a published release builds.</summary>
    protected static ForgeReading Release(JsonElement root, EventFacts facts)
    {
        var tag = Payload.Required(root, "release.tag_name", 255);
        var release = facts with { Tag = tag, Ref = $"refs/tags/{tag}" };
        return new ForgeReading(EventTypes.Release, release,
            release.Action == "published" ? null : $"release action '{release.Action}' is not one Kiln acts on (published)");
    }
}
