using Kiln.Server.Duties;
using Kiln.Store.Database;
using Kiln.Store.Environments;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Packaging;

/// <summary>
/// On the leader, every tick: records the tarballs of finished environment builds as new versions
/// (one writer numbers the versions), and starts the builds of environments whose refresh interval has passed:
/// builds are started here, as the farm itself (trigger <c>scheduled</c>).
/// </summary>
public sealed partial class EnvironmentDuty(EnvironmentStore store, EnvironmentBuilds builds, ILogger<EnvironmentDuty> logger) : ILeaderDuty
{
    public string Name => "environments";

    public async Task RunAsync(LeaderLease leader, CancellationToken ct)
    {
        if (!leader.MayRunDuties)
        {
            return;
        }
        var recorded = await store.RecordBuiltAsync(ct);
        if (recorded > 0)
        {
            LogRecorded(logger, recorded);
        }
        foreach (var name in await store.DueForRefreshAsync(ct))
        {
            if (await store.GetAsync(name, ct) is { } environment)
            {
                var (workflow, problem) = await builds.StartAsync(null, environment, "scheduled", ct);
                if (workflow is { } id)
                {
                    LogRefreshing(logger, name, id);
                }
                else if (problem is not null)
                {
                    LogRefreshRefused(logger, name);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Refreshing environment {Name}: workflow {WorkflowId}")]
    private static partial void LogRefreshing(ILogger logger, string name, long workflowId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The scheduled refresh of environment {Name} could not be submitted (does project kiln-environments still exist?)")]
    private static partial void LogRefreshRefused(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Recorded {Count} new environment version(s)")]
    private static partial void LogRecorded(ILogger logger, long count);
}
