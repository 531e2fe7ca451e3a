using Kiln.Contracts;
using Kiln.Store.Outbox;

namespace Kiln.Server.Outbox.Forges;

/// <summary>GitHub: check runs for App installations (H1), commit statuses for token links.</summary>
public sealed class GitHubStatusWriter(CommitStatusWriter statuses) : IForgeStatusWriter
{
    public string Forge => EventSources.GitHub;

    public Task<SendAnswer> WriteAsync(StatusWrite write, CancellationToken ct) => statuses.WriteAsync(write, ct);
}
