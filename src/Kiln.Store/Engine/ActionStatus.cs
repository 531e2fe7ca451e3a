namespace Kiln.Store.Engine;

/// <summary>How a cancel or retry was answered.</summary>
public enum ActionStatus { Done, NotFound, Conflict }
