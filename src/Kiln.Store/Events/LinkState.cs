namespace Kiln.Store.Events;

/// <summary>A repository link as processing sees it: the project it belongs to and whether it is paused.</summary>
public sealed record LinkState(long Id, long ProjectId, bool Paused);
