namespace Kiln.Worker;

/// <summary>Signals for processes a supervisor started (<c>kiln up</c> stopping its workers).</summary>
public static class ProcessSignals
{
    /// <summary>SIGTERM: the first drains a worker, the second stops its tasks and reports them for retry.</summary>
    public static bool Terminate(int pid) => Posix.Signal(pid, Posix.SIGTERM);
}
