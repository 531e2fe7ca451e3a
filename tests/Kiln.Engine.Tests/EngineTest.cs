namespace Kiln.Engine.Tests;

/// <summary>Base for store-level tests: every test gets its own fresh database and fake clock.</summary>
public abstract class EngineTest : IAsyncLifetime
{
    protected EngineFixture E { get; } = new();

    public Task InitializeAsync() => E.InitializeAsync();

    public Task DisposeAsync() => E.DisposeAsync();
}
