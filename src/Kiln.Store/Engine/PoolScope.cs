namespace Kiln.Store.Engine;

/// <summary>
/// What a worker's pool lets it serve, as read when the worker authenticated (cached with its
/// identity for <see cref="Workers.WorkerStore.CacheFor"/>). The claim does not trust this copy:
/// it reads the pool again in its own statement, so a pool an admin narrowed applies to the
/// next claim on every replica. Reads of artifacts and logs (<c>WorkerVisibility</c>) use it.
/// </summary>
/// <param name="Queues">Queues the pool serves; empty: every queue.</param>
/// <param name="ProjectIds">Projects the pool serves; empty: every project.</param>
/// <param name="ExcludePrivate">Private projects are never served, even when listed.</param>
public sealed record PoolScope(long Id, string Name, string[] Queues, long[] ProjectIds, bool ExcludePrivate)
{
    public bool ServesQueue(string queue) => Queues.Length == 0 || Queues.Contains(queue, StringComparer.Ordinal);

    public bool ServesProject(long projectId, bool isPrivate) =>
        (ProjectIds.Length == 0 || ProjectIds.Contains(projectId)) && !(isPrivate && ExcludePrivate);
}
