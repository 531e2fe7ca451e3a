namespace Kiln.Testing;

/// <summary>A repository on the <see cref="FakeForge"/>: its branch and tag heads and the webhooks it sends to.</summary>
public sealed class FakeRepository
{
    private readonly object _gate = new();
    private readonly Dictionary<string, string> _branches = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _tags = new(StringComparer.Ordinal);
    private readonly List<FakeHook> _hooks = [];

    internal FakeRepository(FakeForge forge, string kind, string fullName, long id)
    {
        Forge = forge;
        Kind = kind;
        FullName = fullName;
        Id = id;
    }

    public FakeForge Forge { get; }

    /// <summary>github, gitlab or forgejo: how its deliveries are signed and its API answers.</summary>
    public string Kind { get; }

    /// <summary>owner/name (GitLab: group/…/name).</summary>
    public string FullName { get; }

    /// <summary>The forge's numeric id of the repository (GitLab's project id).</summary>
    public long Id { get; }

    public string DefaultBranch { get; set; } = "main";

    public string CloneUrl => $"{Forge.Url}/{FullName}.git";

    public IReadOnlyDictionary<string, string> Branches { get { lock (_gate) { return new Dictionary<string, string>(_branches); } } }

    public IReadOnlyDictionary<string, string> Tags { get { lock (_gate) { return new Dictionary<string, string>(_tags); } } }

    public IReadOnlyList<FakeHook> Hooks { get { lock (_gate) { return [.. _hooks]; } } }

    /// <summary>
    /// Adds a webhook sending to <paramref name="url"/> signed with <paramref name="secret"/>.
    /// <paramref name="standardWebhooks"/> (GitLab): also sign with the Standard Webhooks headers.
    /// <paramref name="organisation"/> (GitHub): an organisation-level hook (its deliveries carry the organisation).
    /// </summary>
    public FakeHook AddHook(string url, string secret, bool standardWebhooks = false, bool organisation = false)
    {
        var hook = new FakeHook(this, Forge.NextId(), url, secret, standardWebhooks, organisation);
        lock (_gate)
        {
            _hooks.Add(hook);
        }
        return hook;
    }

    /// <summary>Moves a branch without sending anything (a delivery the forge lost, or one it never sent).</summary>
    public void SetBranch(string name, string sha)
    {
        lock (_gate)
        {
            _branches[name] = sha;
        }
    }

    /// <summary>Sets a tag without sending anything (GitHub sends no event when more than three tags are pushed at once).</summary>
    public void SetTag(string name, string sha)
    {
        lock (_gate)
        {
            _tags[name] = sha;
        }
    }
}
