using System.Runtime.InteropServices;

namespace Kiln.Worker;

/// <summary>How a worker introduces itself and runs its tasks. <c>kiln worker</c> fills it from options and environment.</summary>
public sealed record WorkerOptions
{
    /// <summary>Base URL of the server.</summary>
    public required Uri Server { get; init; }

    /// <summary>The farm's registration token (the server prints it).</summary>
    public required string RegistrationToken { get; init; }

    /// <summary>Unique name; re-registering the same name replaces the old registration.</summary>
    public string Name { get; init; } = Environment.MachineName;

    /// <summary>Architectures it builds for; the first is its own.</summary>
    public IReadOnlyList<string> Architectures { get; init; } = [NativeArchitecture()];

    public IReadOnlyList<string> Tags { get; init; } = [];

    public IReadOnlyList<string> Queues { get; init; } = DefaultQueues;

    /// <summary>Builds, environment builds and repository publishing: the built-in kinds' queues.</summary>
    public static readonly string[] DefaultQueues = ["builds", "environments", "publish"];

    /// <summary>Tasks run at once.</summary>
    public int Slots { get; init; } = 1;

    /// <summary>
    /// Assignments claimed ahead, beyond free slots, and started as soon as a slot frees up: for
    /// farms of many short tasks (tests, lint), where the claim round trip would otherwise idle the
    /// slot. 0 (the default) suits builds: work waiting on a busy worker could have started on an
    /// idle one. Leases of waiting work are renewed, and a drain hands it back unstarted.
    /// </summary>
    public int Prefetch { get; init; }

    /// <summary>Where task directories are made (<c>tasks/&lt;id&gt;-&lt;attempt&gt;/</c>); emptied of leftovers at start.</summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "kiln-worker");

    /// <summary>
    /// When set (the worker runs as root), slot n's tasks run as uid and gid <c>TaskUidBase + n</c>
    /// (numeric, no account needed), owning their task directory alone: a task cannot write into
    /// another slot's directory, nor read the worker's token file or <c>/proc/&lt;worker&gt;/environ</c>.
    /// Null: tasks run as the worker's user (docs/worker.md, <i>What a task can reach</i>).
    /// </summary>
    public int? TaskUidBase { get; init; }

    /// <summary>Between SIGTERM and SIGKILL to a task's process group (cancel, timeout, shutdown).</summary>
    public TimeSpan KillGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Heartbeat interval while tasks run, when shorter than the server's: cancellation is learnt
    /// from heartbeats, and must reach the task within 5 s (interval + <see cref="KillGrace"/> + a round trip).
    /// </summary>
    public TimeSpan CancelCheckInterval { get; init; } = TimeSpan.FromSeconds(1.5);

    /// <summary>Longest long-poll claim; the server caps it too. Short enough that a draining worker exits promptly.</summary>
    public int ClaimWaitSeconds { get; init; } = 10;

    /// <summary>
    /// How long the worker keeps repeating log chunks and output uploads that the server answers with
    /// errors (507: its storage is full) before it gives up on them: the log is then reported truncated,
    /// and an output that cannot be stored ends the attempt as an infrastructure error. An unreachable
    /// server is waited for without limit (a restart loses nothing).
    /// </summary>
    public TimeSpan FlushPatience { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Exit (killing tasks) when this process ends: set by <c>kiln up</c> for its local workers.</summary>
    public int? ParentProcessId { get; init; }

    /// <summary>Debian name of this machine's architecture.</summary>
    public static string NativeArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.X86 => "i386",
        Architecture.Arm => "armhf",
        Architecture.RiscV64 => "riscv64",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64el",
        Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };
}
