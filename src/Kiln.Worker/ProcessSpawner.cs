using System.Collections.Concurrent;
using System.Diagnostics;

namespace Kiln.Worker;

/// <summary>
/// Starts the task processes from one thread that lives as long as the worker. The kernel sends a
/// child's parent-death signal (<c>PR_SET_PDEATHSIG</c>, which <c>bwrap --die-with-parent</c> sets)
/// when the <em>thread</em> that forked it exits, not the process; a thread-pool thread retires
/// when the pool shrinks after a busy spell, and a job started from it was killed mid-run (its last
/// output missing). From this thread, the signal means what it should: the worker went away.
/// </summary>
internal static class ProcessSpawner
{
    private static readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Started)> Requests = [];

    static ProcessSpawner()
    {
        new Thread(Run) { IsBackground = true, Name = "kiln-process-spawner" }.Start();
    }

    public static Process Start(ProcessStartInfo start)
    {
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((start, started));
        return started.Task.GetAwaiter().GetResult();
    }

    private static void Run()
    {
        foreach (var (start, started) in Requests.GetConsumingEnumerable())
        {
            try
            {
                started.SetResult(Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start"));
            }
            catch (Exception e)
            {
                started.SetException(e);
            }
        }
    }
}
