namespace Kiln.Contracts;

/// <summary>
/// Links a forge repository to a project (<c>POST /api/v1/projects/{name}/links</c>; linking the same
/// forge and repository again replaces the secret and the settings).
/// </summary>
/// <param name="Forge">github, gitlab or forgejo.</param>
/// <param name="Repository">owner/name as the forge spells it (GitLab: the project's full path, group/subgroup/name); kept in lower case.</param>
/// <param name="Secret">The webhook's secret (GitLab: its secret token; a Standard Webhooks signing token starts with whsec_). Sealed at rest, never shown back.</param>
/// <param name="ApiUrl">The forge's API, for reconcile (https://api.github.com, https://gitlab.example/api/v4, https://codeberg.org/api/v1).</param>
/// <param name="Token">A forge API token for reconcile (read access to the repository; GitHub: also to its webhooks). Sealed, never shown back.</param>
/// <param name="HookId">GitHub: the webhook's id, to list and redeliver its failed deliveries.</param>
/// <param name="ReconcileSeconds">Reconcile on this period (at least 60 s) by the leader; unset: only on demand.</param>
/// <param name="Report">What the link reports to the forge: off, summary (default: one check run / commit status per workflow), jobs (one per job), groups (one per matrix group).</param>
/// <param name="ReportContext">The status context or check run name (default kiln); 1 to 100 characters.</param>
/// <param name="InstallationId">GitHub: the App installation to write check runs as (digits); the App is registered with PUT /api/v1/forge-apps.</param>
public sealed record LinkRepositoryRequest(
    string? Forge, string? Repository, string? Secret, string? ApiUrl = null, string? Token = null, string? HookId = null, int? ReconcileSeconds = null,
    string? Report = null, string? ReportContext = null, string? InstallationId = null);

/// <summary>A repository link as shown to a project's owners: never its secret or token.</summary>
/// <param name="HookPath">Where the forge sends its deliveries, relative to the server's URL.</param>
/// <param name="SecretKeyId">The farm key the secret is sealed under.</param>
public sealed record RepositoryLinkView(
    long Id, string Project, string Forge, string Repository, string HookPath, string? ApiUrl, bool HasToken, string? HookId,
    int? ReconcileSeconds, bool Paused, DateTimeOffset CreatedAt, string? CreatedBy, DateTimeOffset? LastEventAt,
    DateTimeOffset? LastReconciledAt, string SecretKeyId, string Report = "summary", string ReportContext = "kiln", string? InstallationId = null);

/// <summary>What one reconcile of a link found and did.</summary>
/// <param name="DeliveriesChecked">GitHub: the hook's recent deliveries looked at.</param>
/// <param name="Redelivered">GitHub: the delivery ids Kiln had not stored, which the forge was asked to redeliver.</param>
/// <param name="RefsChecked">Branch and tag heads the forge listed.</param>
/// <param name="Fed">Heads Kiln had not seen, fed in as push or tag events.</param>
/// <param name="Baselined">Heads recorded without an event (the link's first reconcile).</param>
/// <param name="Message">The outcome in one line.</param>
public sealed record ReconcileReport(
    long LinkId, int DeliveriesChecked, IReadOnlyList<string> Redelivered, int RefsChecked, IReadOnlyList<ReconciledRef> Fed, int Baselined, string Message);

/// <summary>A head the reconcile fed in: the event it made (or found, when already fed).</summary>
public sealed record ReconciledRef(string Ref, string Sha, long EventId, bool Duplicate);
