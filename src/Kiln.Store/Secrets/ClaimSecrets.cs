namespace Kiln.Store.Secrets;

/// <summary>The secrets of one claimed work request: the opened values, or why the worker gets none (<see cref="Refusal"/>; never a value).</summary>
public sealed record ClaimSecrets(IReadOnlyDictionary<string, string>? Values, string? Refusal);
