namespace Kiln.Worker;

/// <summary>Signals for processes a supervisor started (<c>kiln up</c> stopping its workers).</summary>
public static class ProcessSignals
{
    private const int SIGINT = 2;

    /// <summary>Asks a worker to stop now and report its tasks for retry (as Ctrl-C does).</summary>
    public static bool Interrupt(int pid) => Posix.Signal(pid, SIGINT);

    /// <summary>Asks a worker to drain.</summary>
    public static bool Terminate(int pid) => Posix.Signal(pid, Posix.SIGTERM);
}
