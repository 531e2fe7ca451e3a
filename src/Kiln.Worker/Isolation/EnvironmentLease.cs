namespace Kiln.Worker.Isolation;

/// <summary>A cached environment held by one task: its verified tarball and extracted tree stay until disposed.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class EnvironmentLease(string tarball, string root, Action release) : IDisposable
{
    private int _released;

    /// <summary>The verified tarball (<c>KILN_ENVIRONMENT_TARBALL</c> for kinds that run on the host).</summary>
    public string Tarball { get; } = tarball;

    /// <summary>The extracted tree, owned by the job's mapped ids: the read-only lower layer of every job's root.</summary>
    public string Root { get; } = root;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            release();
        }
    }
}
