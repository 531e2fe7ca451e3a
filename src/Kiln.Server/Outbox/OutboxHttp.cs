namespace Kiln.Server.Outbox;

/// <summary>The HttpClient status writers and webhook deliveries share (no timeout of its own: the outbox bounds each write).</summary>
public sealed record OutboxHttp(HttpClient Client);
