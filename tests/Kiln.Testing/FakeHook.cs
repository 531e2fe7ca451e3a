namespace Kiln.Testing;

/// <summary>A webhook of a <see cref="FakeRepository"/>.</summary>
public sealed class FakeHook
{
    internal FakeHook(FakeRepository repository, long id, string url, string secret, bool standardWebhooks, bool organisation)
    {
        Repository = repository;
        Id = id;
        Url = url;
        Secret = secret;
        StandardWebhooks = standardWebhooks;
        Organisation = organisation;
    }

    public FakeRepository Repository { get; }

    public long Id { get; }

    /// <summary>The GitLab webhook's UUID (X-Gitlab-Webhook-UUID).</summary>
    public Guid Uuid { get; } = Guid.NewGuid();

    public string Url { get; set; }

    public string Secret { get; set; }

    /// <summary>GitLab: deliveries also carry webhook-id, webhook-timestamp and webhook-signature.</summary>
    public bool StandardWebhooks { get; }

    /// <summary>GitHub: an organisation's hook rather than the repository's.</summary>
    public bool Organisation { get; }

    /// <summary>
    /// While set, the forge records each delivery as failed without sending it (Kiln was down, the
    /// network lost it, GitLab rate-limited it): what reconcile has to find.
    /// </summary>
    public bool Dropping { get; set; }
}
