namespace Kiln.Testing;

/// <summary>
/// A status write the fake forge accepted (2xx): a commit status (GitHub, GitLab, Forgejo) or a check
/// run created or updated (GitHub). <see cref="State"/> is in the forge's own words (pending, success,
/// queued, in_progress, completed/success, …); <see cref="Context"/> is the status context or check
/// run name; <see cref="CheckRunId"/> the check run written.
/// </summary>
public sealed record FakeStatusWrite(
    string Forge, string Repository, string Sha, string Context, string Kind, string State, string? Description, long? CheckRunId,
    DateTimeOffset At, string Body);

public sealed partial class FakeForge
{
    private readonly List<FakeStatusWrite> _statusWrites = [];

    /// <summary>Every status write the forge accepted, in order.</summary>
    public IReadOnlyList<FakeStatusWrite> StatusWrites { get { lock (_gate) { return [.. _statusWrites]; } } }

    /// <summary>How the forge misbehaves on status writes (latency, rate limits, 5xx, hangs); applied before a write is accepted.</summary>
    public FakeForgeStatusFaults StatusFaults { get; } = new();

    internal void RecordStatusWrite(FakeStatusWrite write)
    {
        lock (_gate)
        {
            _statusWrites.Add(write);
        }
    }
}
