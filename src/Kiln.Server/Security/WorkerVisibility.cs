using Kiln.Store.Engine;
using Kiln.Store.Identity;

namespace Kiln.Server.Security;

/// <summary>
/// Which projects a worker may see (read their artifacts and logs): exactly those its pool may
/// serve — listed in the pool or the pool lists none, and not private when the pool excludes
/// private projects. Read from the worker's authenticated identity (cached for
/// <see cref="Store.Workers.WorkerStore.CacheFor"/>; the replica that changes a pool drops it).
/// </summary>
public static class WorkerVisibility
{
    public static bool Serves(WorkerIdentity worker, ProjectOfResource project) =>
        worker.Pool.ServesProject(project.ProjectId, project.IsPrivate);
}
