using Kiln.Store.Engine;
using Kiln.Store.Identity;

namespace Kiln.Server.Security;

/// <summary>Which projects a worker may see: those its pool may serve (it needs their jobs' inputs).</summary>
public static class WorkerVisibility
{
    public static bool Serves(WorkerIdentity worker, ProjectOfResource project) => !project.IsPrivate;
}
