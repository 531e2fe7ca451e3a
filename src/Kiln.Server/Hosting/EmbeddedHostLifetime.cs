using Microsoft.Extensions.Hosting;

namespace Kiln.Server.Hosting;

/// <summary>
/// A host lifetime that ignores process signals: the embedding process (<c>kiln up</c>) decides
/// when the server stops, so that Ctrl-C cannot take the API away before local workers have
/// reported their stopped tasks.
/// </summary>
internal sealed class EmbeddedHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
