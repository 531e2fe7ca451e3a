namespace Kiln.Server.Hooks;

/// <summary>A reconcile that could not run (409: the link lacks what it needs) or that the forge failed (502, 504); the message says which and why.</summary>
public sealed class ReconcileException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
