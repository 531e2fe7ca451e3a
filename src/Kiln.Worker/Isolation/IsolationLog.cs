using Microsoft.Extensions.Logging;

namespace Kiln.Worker.Isolation;

/// <summary>The environment executor's and cache's log messages, source-generated.</summary>
internal static partial class IsolationLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Environment {Sha256}: an earlier extraction did not complete; extracting it again")]
    public static partial void RebuildingDamaged(ILogger logger, string sha256);

    [LoggerMessage(Level = LogLevel.Information, Message = "Evicted environment {Sha256} ({Bytes} bytes) from the cache (bound {Bound} bytes)")]
    public static partial void Evicted(ILogger logger, string sha256, long bytes, long bound);

    [LoggerMessage(Level = LogLevel.Information, Message = "Work request {WorkRequestId} in environment {Environment}: root by {RootMode}, disk on {DiskKind}, limits by {LimitsBy}")]
    public static partial void IsolatedStart(ILogger logger, long workRequestId, string environment, string rootMode, string diskKind, string limitsBy);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work request {WorkRequestId}: {Problem}; limiting it with rlimits instead (per-process, weaker)")]
    public static partial void NoCgroup(ILogger logger, long workRequestId, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work request {WorkRequestId}: overlayfs was refused; the environment was copied for the job (slower, counts against its disk)")]
    public static partial void OverlayRefused(ILogger logger, long workRequestId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cleaned up after an earlier worker: {Processes} process(es) in leftover job cgroups killed, {Mounts} mount(s) under {Directory} undone")]
    public static partial void CleanedLeftovers(ILogger logger, int processes, int mounts, string directory);
}
