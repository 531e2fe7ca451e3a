using Kiln.Server.Duties;
using Kiln.Store.Database;
using Kiln.Store.Events;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Hooks;

/// <summary>
/// The periodic reconcile of repository links that set <c>reconcileSeconds</c>: each tick, if no
/// reconcile of this leader is still running, takes the most overdue link (marking it reconciled,
/// so no other tick or replica takes it again) and reconciles it in the background — a slow forge
/// (30 s per call at most) never holds up the other duties. A failure is logged; the link is tried
/// again after its period.
/// </summary>
public sealed partial class ReconcileDuty(RepositoryLinkStore links, LinkReconciler reconciler, ILogger<ReconcileDuty> logger) : ILeaderDuty, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _running;

    public string Name => "repository reconcile";

    public async Task RunAsync(LeaderLease leader, CancellationToken ct)
    {
        if (_running is { IsCompleted: false } || !leader.MayRunDuties)
        {
            return;
        }
        if (await links.TakeDueAsync(ct) is not { } due)
        {
            return;
        }
        _running = Task.Run(() => ReconcileAsync(due.Id, due.Previous), CancellationToken.None);
    }

    private async Task ReconcileAsync(long id, DateTimeOffset? previous)
    {
        try
        {
            if (await links.ForReconcileAsync(id, _stopping.Token) is { } link)
            {
                await reconciler.RunAsync(link with { LastReconciledAt = previous }, _stopping.Token);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogFailed(logger, id, $"{e.GetType().Name}: {e.Message}");
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The periodic reconcile of repository link {Link} failed; it is tried again after its period: {Reason}")]
    private static partial void LogFailed(ILogger logger, long link, string reason);
}
