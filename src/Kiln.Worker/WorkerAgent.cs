using System.Collections.Concurrent;
using Kiln.Contracts;
using Kiln.Worker.Isolation;
using Microsoft.Extensions.Logging;

namespace Kiln.Worker;

/// <summary>
/// The worker's control loop, independent of the tasks it runs: it registers, long-polls for
/// work while slots are free, and heartbeats the leases it holds (learning of cancellations and
/// lost leases from the answers). Tasks run beside it as <see cref="TaskRun"/>s; a slow task never
/// delays a heartbeat. With <see cref="WorkerOptions.Prefetch"/>, it also holds a few claimed
/// assignments ready, started as slots free up without a round trip; their leases are renewed with
/// the running ones. <see cref="Drain"/> stops claiming, hands back what it has not started and
/// lets running tasks finish; a second call (or <see cref="Abort"/>) stops them and reports them for retry.
/// </summary>
public sealed class WorkerAgent : IDisposable
{
    private readonly WorkerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly RetryPolicy _retry;
    private readonly ConcurrentDictionary<long, (TaskRun Run, Task Done)> _running = new();
    private readonly CancellationTokenSource _draining = new();
    private readonly CancellationTokenSource _aborting = new();
    private readonly SemaphoreSlim _slotFreed = new(0);

    /// <summary>Claimed, not started (at most <see cref="WorkerOptions.Prefetch"/> beyond free slots). Guarded by <see cref="_gate"/>, as are starts.</summary>
    private readonly List<Assignment> _ready = [];
    private readonly Lock _gate = new();

    /// <summary>Slot numbers not in use (a task's uid derives from its slot). Guarded by <see cref="_gate"/>.</summary>
    private readonly Stack<int> _freeSlots;
    private KilnClient? _client;
    private ReportSender? _reports;
    private CancellationToken _hardStop;
    private TimingPolicy _timing = new(10, 60, 30);
    private CancellationTokenSource? _giveUp;

    /// <summary>Shared by all tasks, so concurrent tasks wanting one environment fetch it once.</summary>
    private EnvironmentCache? _environments;

    /// <summary>How long reports may still be retried after the parent process vanished.</summary>
    private static readonly TimeSpan OrphanedReportGrace = TimeSpan.FromSeconds(10);

    public WorkerAgent(WorkerOptions options, ILogger logger, TimeProvider? time = null)
    {
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _retry = new RetryPolicy(_time, (what, e, delay) => WorkerLog.Retrying(_logger, what, e.Message, delay.TotalSeconds));
        _freeSlots = new(Enumerable.Range(0, Math.Max(1, options.Slots)).Reverse());
    }

    /// <summary>Tasks running now.</summary>
    public int Running => _running.Count;

    /// <summary>First call: finish running tasks, claim nothing new. Second call: <see cref="Abort"/>.</summary>
    public void Drain()
    {
        if (_draining.IsCancellationRequested)
        {
            Abort();
            return;
        }
        WorkerLog.Draining(_logger, _running.Count);
        _draining.Cancel();
    }

    /// <summary>Stops every running task (SIGTERM, then SIGKILL) and reports it through <c>fail</c>, so it is retried elsewhere.</summary>
    public void Abort()
    {
        if (_aborting.IsCancellationRequested)
        {
            return;
        }
        WorkerLog.Aborting(_logger, _running.Count);
        _aborting.Cancel();
        _draining.Cancel();
        foreach (var (run, _) in _running.Values)
        {
            run.Stop(StopReason.Shutdown);
        }
    }

    /// <summary>Runs until drained or aborted.</summary>
    /// <param name="hardStop">Gives up everything, reports included (the process is exiting regardless).</param>
    /// <exception cref="KilnApiException">The server refused the registration (e.g. a wrong token).</exception>
    public async Task RunAsync(CancellationToken hardStop)
    {
        var tasks = Path.Combine(_options.WorkDirectory, "tasks");
        var orphans = TaskProcess.KillOrphans(tasks, TaskRun.PidFileName);
        if (orphans > 0)
        {
            WorkerLog.KilledOrphans(_logger, orphans, tasks);
        }
        if (!OperatingSystem.IsWindows() && System.Environment.IsPrivilegedProcess)
        {
            // Environment jobs of a killed worker: processes in their cgroups, their disks and overlay mounts.
            await IsolatedJob.CleanLeftoversAsync(_options.WorkDirectory, _logger, _time);
            if (SubordinateIds.ForCurrentUser().Ids is { } ids)
            {
                _environments = new EnvironmentCache(_options.EnvironmentCacheDirectory, _options.EnvironmentCacheBytes, ids, _logger, _time);
            }
        }
        if (Directory.Exists(tasks))
        {
            Directory.Delete(tasks, recursive: true);
        }

        using var client = new KilnClient(_options.Server);
        using var registering = CancellationTokenSource.CreateLinkedTokenSource(_draining.Token, hardStop);
        RegisterWorkerResponse registration;
        try
        {
            registration = await _retry.UntilAcknowledgedAsync("registration", c => client.RegisterWorkerAsync(_options.RegistrationToken,
                new RegisterWorkerRequest(_options.Name, _options.Architectures, _options.Tags, _options.Queues, _options.Slots), c), registering.Token);
        }
        catch (OperationCanceledException) when (registering.IsCancellationRequested)
        {
            return;
        }
        _timing = registration.Timing;
        WorkerLog.Registered(_logger, registration.WorkerId, _options.Name, string.Join(",", _options.Architectures),
            string.Join(",", _options.Queues), _options.Slots, _options.Prefetch, _options.Server);

        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(hardStop);
        _giveUp = giveUp;
        hardStop = giveUp.Token;
        _hardStop = hardStop;
        _client = client;
        _reports = new ReportSender(client, _retry);
        var sending = _reports.RunAsync(hardStop);
        using var stopHeartbeats = CancellationTokenSource.CreateLinkedTokenSource(hardStop);
        var heartbeats = HeartbeatLoopAsync(client, stopHeartbeats.Token);
        var watchdog = _options.ParentProcessId is { } parent ? WatchParentAsync(parent, stopHeartbeats.Token) : Task.CompletedTask;
        await ClaimLoopAsync(client, hardStop);

        // Drained or aborted: hand back what was not started, wait for running tasks to end and report.
        List<Assignment> unstarted;
        lock (_gate)
        {
            unstarted = [.. _ready];
            _ready.Clear();
        }
        await Task.WhenAll(unstarted.Select(a => HandBackAsync(a, hardStop)));
        await Task.WhenAll(_running.Values.Select(r => r.Done));
        _reports.Complete();
        await sending;
        await stopHeartbeats.CancelAsync();
        await heartbeats;
        await watchdog;
        WorkerLog.Stopped(_logger);
    }

    private async Task ClaimLoopAsync(KilnClient client, CancellationToken hardStop)
    {
        using var aborting = CancellationTokenSource.CreateLinkedTokenSource(_aborting.Token, hardStop);
        var backoff = RetryPolicy.FirstDelay;
        // Kept until a claim is answered: a claim retried after a lost answer repeats its id,
        // and the server hands back what that claim took instead of claiming more.
        var claimId = Guid.NewGuid();
        var waitingForApproval = false;
        while (!_draining.IsCancellationRequested)
        {
            int wanted;
            lock (_gate)
            {
                wanted = _options.Slots + _options.Prefetch - _running.Count - _ready.Count;
            }
            if (wanted <= 0)
            {
                try
                {
                    await _slotFreed.WaitAsync(TimeSpan.FromSeconds(1), _draining.Token);
                }
                catch (OperationCanceledException)
                {
                    // Draining: the loop ends.
                }
                continue;
            }
            ClaimResponse claim;
            try
            {
                // A drain does not cut a claim short: work it returns is handed back at once rather than left to expire.
                claim = await client.ClaimAsync(
                    new ClaimRequest(Math.Min(wanted, MaxClaim), Math.Min(_options.ClaimWaitSeconds, _timing.MaxClaimWaitSeconds), claimId), aborting.Token);
                backoff = RetryPolicy.FirstDelay;
                claimId = Guid.NewGuid();
            }
            catch (OperationCanceledException) when (aborting.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (KilnClient.IsTransient(e, aborting.Token))
            {
                var wait = RetryPolicy.HonouringRetryAfter(e, backoff);
                WorkerLog.Retrying(_logger, "claim", e.Message, wait.TotalSeconds);
                await Task.Delay(wait, _time, _draining.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                backoff = backoff * 2 < RetryPolicy.MaxDelay ? backoff * 2 : RetryPolicy.MaxDelay;
                continue;
            }
            if (claim.PendingApproval != waitingForApproval)
            {
                // Said once when it starts waiting and once when let in, not on every poll.
                waitingForApproval = claim.PendingApproval;
                if (waitingForApproval)
                {
                    WorkerLog.AwaitingApproval(_logger, _options.Name);
                }
                else
                {
                    WorkerLog.Approved(_logger);
                }
            }
            lock (_gate)
            {
                _ready.AddRange(claim.Assignments);
            }
            StartReady();
        }
    }

    /// <summary>The server's limit on one claim.</summary>
    private const int MaxClaim = 64;

    /// <summary>Starts ready assignments while slots are free; nothing starts once draining (they are handed back).</summary>
    private void StartReady()
    {
        lock (_gate)
        {
            while (!_draining.IsCancellationRequested && _running.Count < _options.Slots && _ready.Count > 0)
            {
                var next = _ready[0];
                _ready.RemoveAt(0);
                Start(next);
            }
        }
    }

    private void Start(Assignment assignment)
    {
        var run = new TaskRun(assignment, _client!, _reports!, _options, _retry, _logger, _time, _freeSlots.Pop(), _environments);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = Task.Run(async () =>
        {
            await started.Task;
            try
            {
                await run.RunAsync(_hardStop);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                WorkerLog.TaskCrashed(_logger, e, assignment.WorkRequestId);
            }
            finally
            {
                lock (_gate)
                {
                    // Together, so a start that sees the slot free also finds its number.
                    _freeSlots.Push(run.Slot);
                    _running.TryRemove(assignment.WorkRequestId, out _);
                }
                run.Dispose();
                StartReady();
                _slotFreed.Release();
            }
        }, CancellationToken.None);
        _running[assignment.WorkRequestId] = (run, done);
        started.SetResult();
    }

    private async Task HandBackAsync(Assignment assignment, CancellationToken hardStop)
    {
        try
        {
            await _reports!.SendAsync(new WorkerReport(assignment.WorkRequestId, assignment.LeaseToken, "released", null,
                $"worker {_options.Name} was draining and did not start it"), hardStop);
        }
        catch (KilnApiException e)
        {
            WorkerLog.ReportRefused(_logger, assignment.WorkRequestId, e.Message);
        }
        catch (OperationCanceledException) when (hardStop.IsCancellationRequested)
        {
            // Exiting regardless: the lease expires and the server requeues it.
        }
    }

    /// <summary>A ready assignment the server cancelled, or whose lease is gone, leaves the queue before it starts.</summary>
    private async Task DropReadyAsync(long workRequestId, string status)
    {
        Assignment? dropped;
        lock (_gate)
        {
            dropped = _ready.Find(a => a.WorkRequestId == workRequestId);
            if (dropped is not null)
            {
                _ready.Remove(dropped);
            }
        }
        if (dropped is null)
        {
            return;
        }
        _slotFreed.Release();
        if (status == "lost")
        {
            WorkerLog.LeaseLost(_logger, workRequestId);
            return;
        }
        WorkerLog.CancelRequested(_logger, workRequestId);
        try
        {
            var answer = await _reports!.SendAsync(new WorkerReport(workRequestId, dropped.LeaseToken, "cancelled", null, "cancelled before it started"), _hardStop);
            WorkerLog.Reported(_logger, workRequestId, dropped.Name, "cancelled", "cancelled before it started", answer.State);
        }
        catch (KilnApiException e)
        {
            WorkerLog.ReportRefused(_logger, workRequestId, e.Message);
        }
        catch (OperationCanceledException) when (_hardStop.IsCancellationRequested)
        {
            // Exiting regardless.
        }
        catch (InvalidOperationException)
        {
            // The worker finished reporting and is stopping: the lease expires and the cancel is recorded by the server.
        }
    }

    /// <summary>
    /// Renews leases and hears about cancellations. Runs at the server's heartbeat interval, or
    /// <see cref="WorkerOptions.CancelCheckInterval"/> if shorter, whatever the tasks are doing.
    /// </summary>
    private async Task HeartbeatLoopAsync(KilnClient client, CancellationToken stop)
    {
        var failing = false;
        while (!stop.IsCancellationRequested)
        {
            var interval = TimeSpan.FromSeconds(Math.Max(1, _timing.HeartbeatSeconds));
            if (interval > _options.CancelCheckInterval)
            {
                interval = _options.CancelCheckInterval;
            }
            await Task.Delay(interval, _time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            List<LeaseRef> leases;
            lock (_gate)
            {
                leases = [.. _running.Values.Select(r => r.Run.Lease), .. _ready.Select(a => new LeaseRef(a.WorkRequestId, a.LeaseToken))];
            }
            if (leases.Count == 0 || stop.IsCancellationRequested)
            {
                continue;
            }
            try
            {
                var answer = await client.HeartbeatAsync(new HeartbeatRequest(leases), stop);
                _timing = answer.Timing;
                failing = false;
                foreach (var status in answer.Leases)
                {
                    if (!_running.TryGetValue(status.WorkRequestId, out var entry))
                    {
                        if (status.Status is "cancel" or "lost")
                        {
                            _ = DropReadyAsync(status.WorkRequestId, status.Status);
                        }
                        continue;
                    }
                    if (status.Status == "cancel")
                    {
                        WorkerLog.CancelRequested(_logger, status.WorkRequestId);
                        entry.Run.Stop(StopReason.Cancelled);
                    }
                    else if (status.Status == "lost")
                    {
                        entry.Run.Stop(StopReason.Lost);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (KilnClient.IsTransient(e, stop) || e is KilnApiException)
            {
                // Tasks keep running: the server may be restarting, and their leases outlast a few missed beats.
                if (!failing)
                {
                    WorkerLog.HeartbeatFailed(_logger, e.Message);
                }
                failing = true;
            }
        }
    }

    private async Task WatchParentAsync(int parentPid, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), _time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!stop.IsCancellationRequested && !Directory.Exists($"/proc/{parentPid}"))
            {
                WorkerLog.ParentGone(_logger, parentPid);
                Abort();
                _giveUp?.CancelAfter(OrphanedReportGrace);
                return;
            }
        }
    }

    public void Dispose()
    {
        _draining.Dispose();
        _aborting.Dispose();
        _slotFreed.Dispose();
    }
}
