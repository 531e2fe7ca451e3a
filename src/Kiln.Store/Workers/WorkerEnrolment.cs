namespace Kiln.Store.Workers;

/// <summary>
/// The outcome of a registration: the worker's id and new secret, and whether it may claim yet
/// (its pool may require approval); or, with no id, why it was refused — the worker is
/// <see cref="Disabled"/>, its name is enrolled in <see cref="OtherPool"/>, or (neither)
/// the token's pool was deleted while it registered.
/// </summary>
public sealed record WorkerEnrolment(long? Id, string? Secret, bool Approved, bool Disabled, string? OtherPool, string? Pool = null);
