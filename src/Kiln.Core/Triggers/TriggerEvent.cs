using Kiln.Contracts;

namespace Kiln.Core.Triggers;

/// <summary>An event as the rules see it: where it came from, what it is, and its facts.</summary>
public sealed record TriggerEvent(long Id, string Source, string Type, EventFacts Facts);
