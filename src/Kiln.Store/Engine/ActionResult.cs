using Kiln.Contracts;

namespace Kiln.Store.Engine;

/// <summary>Result of a cancel or retry: what changed, or why nothing could.</summary>
public sealed record ActionResult(ActionStatus Status, ActionResponse Response);
