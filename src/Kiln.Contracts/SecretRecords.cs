namespace Kiln.Contracts;

/// <summary>
/// A project secret as the API shows it: its name and who set it when, never its value (no read
/// API returns a value; only a job that names the secret gets it, on a worker of a trusted pool).
/// </summary>
/// <param name="Name">The secret's name, also the environment variable the task gets.</param>
/// <param name="UpdatedAt">When it was last set.</param>
/// <param name="UpdatedBy">The user who last set it (null if that user is gone).</param>
/// <param name="KeyId">Names the key it is sealed with (first 8 hex digits of the key's SHA-256): one that differs from the server's cannot be opened.</param>
public sealed record SecretView(string Name, DateTimeOffset UpdatedAt, string? UpdatedBy, string KeyId);
