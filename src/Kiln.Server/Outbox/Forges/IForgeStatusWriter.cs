using Kiln.Store.Outbox;

namespace Kiln.Server.Outbox.Forges;

/// <summary>Writes one <see cref="StatusWrite"/> to one kind of forge (github, gitlab, forgejo), in one request (a check run's first write may need two: look up, then create).</summary>
public interface IForgeStatusWriter
{
    /// <summary>github, gitlab or forgejo.</summary>
    string Forge { get; }

    Task<SendAnswer> WriteAsync(StatusWrite write, CancellationToken ct);
}

/// <summary>
/// What a forge status should say now. <see cref="Phase"/> is the outbox's desired state (waiting,
/// held, queued, running, succeeded, failed, cancelled, superseded, skipped; queued for a job not yet
/// started); each writer maps it to its forge's words.
/// </summary>
/// <param name="Channel">The outbox channel: app:INSTALLATION@API for a GitHub App installation, link:ID for a token.</param>
/// <param name="Token">The link's API token (null for an App installation: the GitHub writer mints one).</param>
/// <param name="Context">The status context or check run name (kiln, kiln/build[amd64]).</param>
/// <param name="Description">One line, at most 140 characters (GitHub's limit for a status description).</param>
/// <param name="Summary">Markdown: the workflow's jobs and their states (a check run's output summary).</param>
/// <param name="TargetUrl">Where the forge links to: the workflow on this Kiln.</param>
/// <param name="RemoteId">The check run's id once created.</param>
/// <param name="ExternalId">A stable id of the target (kiln-target-ID): a check run created by a write whose answer was lost is found again by it, never created twice.</param>
public sealed record StatusWrite(
    long TargetId, string Channel, string Forge, string ApiUrl, string Repository, string? Token, string? InstallationId,
    string Sha, string Context, string Kind, string Phase, string Description, string Summary, string TargetUrl,
    string? RemoteId, string ExternalId);
