using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Store.Events;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Hooks;

/// <summary>
/// Asks a forge for what Kiln missed of a repository link and feeds it through the same path as a
/// delivery. GitHub (with the link's hook id): the hook's deliveries since the last reconcile (at
/// most three days back, what GitHub keeps) whose GUID Kiln never stored are redelivered — the
/// forge sends them again, signed, to the hook endpoint. All forges: the branch and tag heads the
/// forge lists are compared with the events stored for the link and the heads the last reconcile
/// saw; each head seen in neither becomes a push or tag event (delivery key
/// <c>reconcile:LINK:REF:SHA</c>, so reconciling twice feeds it once), processed like any other —
/// and a late real delivery of the same commit is caught by the rules' input key. The first
/// reconcile of a link records the heads without events: refs that existed before are not news.
/// </summary>
public sealed partial class LinkReconciler(
    RepositoryLinkStore links, LinkReconcileStore store, EventStore events, TimeProvider time, ILogger<LinkReconciler> logger)
{
    /// <summary>How far back GitHub keeps a hook's deliveries.</summary>
    public static readonly TimeSpan DeliveryHistory = TimeSpan.FromDays(3);

    /// <summary>Most redeliveries asked for in one reconcile (GitHub counts them against the token's rate limit).</summary>
    public const int MaxRedeliveries = 50;

    /// <summary>Kiln's own refusals that a redelivery would meet again (malformed, unlinked, too large, wrong content type).</summary>
    private static readonly int[] Permanent = [400, 404, 413, 415];

    private static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Reconciles link <paramref name="id"/> on demand.</summary>
    /// <exception cref="ReconcileException">No such link, no API URL, or the forge failed.</exception>
    public async Task<ReconcileReport> ReconcileAsync(long id, CancellationToken ct)
    {
        var link = await links.ForReconcileAsync(id, ct) ?? throw new ReconcileException(StatusCodes.Status404NotFound, $"repository link {id} does not exist");
        var report = await RunAsync(link, ct);
        await store.MarkReconciledAsync(id, ct);
        return report;
    }

    /// <summary>Reconciles <paramref name="link"/>, whose last reconcile is its <see cref="LinkForReconcile.LastReconciledAt"/> (null: never).</summary>
    public async Task<ReconcileReport> RunAsync(LinkForReconcile link, CancellationToken ct)
    {
        if (link.ApiUrl is null)
        {
            throw new ReconcileException(StatusCodes.Status409Conflict,
                $"repository link {link.Id} has no apiUrl: link it again with the forge's API (kiln repo link … --api-url URL) to reconcile it");
        }
        var api = new ForgeApiClient(Http);
        var redelivered = new List<string>();
        var checkedDeliveries = 0;
        if (link.Forge == EventSources.GitHub && link.HookId is not null)
        {
            var now = time.GetUtcNow();
            var since = link.LastReconciledAt is { } last && last > now - DeliveryHistory ? last - TimeSpan.FromHours(1) : now - DeliveryHistory;
            var deliveries = await api.DeliveriesAsync(link, since, ct);
            checkedDeliveries = deliveries.Count;
            var stored = await store.StoredDeliveriesAsync(link.Forge, [.. deliveries.Select(d => d.Guid).Distinct()], ct);
            // Newest attempt per GUID: a GUID already redelivered since (and answered) is not asked for again.
            foreach (var latest in deliveries.GroupBy(d => d.Guid).Select(g => g.MaxBy(d => d.Id)!).OrderBy(d => d.Id))
            {
                if (redelivered.Count == MaxRedeliveries)
                {
                    break;
                }
                if (!stored.Contains(latest.Guid) && !Permanent.Contains(latest.StatusCode))
                {
                    await api.RedeliverAsync(link, latest.Id, ct);
                    redelivered.Add(latest.Guid);
                }
            }
        }

        var (heads, cut) = await api.HeadsAsync(link, ct);
        var unseen = await store.UnseenAsync(link.Id, link.Forge, heads, ct);
        var fed = new List<ReconciledRef>();
        var first = link.LastReconciledAt is null;
        if (!first)
        {
            foreach (var (@ref, sha) in unseen)
            {
                var accepted = await events.InsertAsync(Synthesized(link, @ref, sha), ct);
                fed.Add(new ReconciledRef(@ref, sha, accepted.EventId, accepted.Duplicate));
            }
        }
        await store.SaveAsync(link.Id, heads, ct);
        var message = $"{(checkedDeliveries > 0 || redelivered.Count > 0 ? $"{checkedDeliveries} deliveries checked, {redelivered.Count} redelivered; " : "")}"
            + $"{heads.Count} heads listed{(cut ? $" (cut at {ForgeApiClient.MaxPages} pages)" : "")}, "
            + (first ? $"recorded as the baseline (a link's first reconcile feeds nothing)" : $"{fed.Count(f => !f.Duplicate)} fed in as events");
        LogReconciled(logger, link.Id, message);
        return new ReconcileReport(link.Id, checkedDeliveries, redelivered, heads.Count, fed, first ? unseen.Count : 0, message);
    }

    /// <summary>The event for a head Kiln had not seen: a push or tag as a delivery would have said it.</summary>
    private static NewEvent Synthesized(LinkForReconcile link, string @ref, string sha)
    {
        var tag = @ref.StartsWith("refs/tags/", StringComparison.Ordinal) ? @ref["refs/tags/".Length..] : null;
        var facts = new EventFacts
        {
            Repository = link.Repository,
            Ref = @ref,
            Sha = sha,
            Tag = tag,
            Branch = tag is null ? @ref["refs/heads/".Length..] : null,
            Sender = "kiln reconcile",
        };
        var key = $"reconcile:{link.Id}:{@ref}:{sha}";
        if (key.Length > ForgeIntake.MaxDeliveryKey)
        {
            key = $"reconcile:{link.Id}:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(@ref)))[..32]}:{sha}";
        }
        var headers = new Dictionary<string, string> { ["X-Kiln-Reconcile"] = $"link {link.Id}" };
        return new NewEvent(link.Forge, key, tag is null ? EventTypes.Push : EventTypes.Tag, EventStates.Received, facts, headers, null, [link.Id], null);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconciled repository link {Link}: {Message}")]
    private static partial void LogReconciled(ILogger logger, long link, string message);
}
