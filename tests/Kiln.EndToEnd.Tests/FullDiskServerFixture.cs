namespace Kiln.EndToEnd.Tests;

/// <summary>An in-process server whose <c>logs/</c> and <c>artifacts/</c> are small real filesystems of their own.</summary>
public sealed class FullDiskServerFixture : IsolatedServerFixture
{
    public SmallVolume Logs { get; private set; } = null!;

    public SmallVolume Artifacts { get; private set; } = null!;

    protected override Task PrepareAsync()
    {
        Logs = SmallVolume.Mount(Path.Combine(DataDirectory, "logs"));
        Artifacts = SmallVolume.Mount(Path.Combine(DataDirectory, "artifacts"));
        return Task.CompletedTask;
    }

    protected override Task CleanUpAsync()
    {
        Logs.Dispose();
        Artifacts.Dispose();
        return Task.CompletedTask;
    }
}
