namespace Kiln.Store.Events;

/// <summary>A source's pause and burst limit (event_sources; a source without a row runs with the server's default).</summary>
public sealed record SourceState(bool Paused, int? BurstLimit, int? BurstWindowSeconds);
