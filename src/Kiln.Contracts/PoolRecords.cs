namespace Kiln.Contracts;

/// <summary>
/// A worker pool: what its workers may serve. Empty <see cref="Queues"/> means every queue, empty
/// <see cref="Projects"/> every project (but private ones when <see cref="ExcludePrivate"/>).
/// </summary>
/// <param name="ApprovalRequired">New workers of the pool wait for <c>kiln worker approve NAME</c> before they get work.</param>
/// <param name="Workers">Listed (not removed) workers enrolled in the pool.</param>
/// <param name="LiveTokens">Registration tokens of the pool that are neither revoked nor expired.</param>
public sealed record PoolView(
    long Id,
    string Name,
    string Description,
    IReadOnlyList<string> Queues,
    IReadOnlyList<string> Projects,
    bool ExcludePrivate,
    bool ApprovalRequired,
    int Workers,
    int LiveTokens,
    DateTimeOffset CreatedAt);

/// <summary>
/// Creates a pool (<c>POST /api/v1/pools</c>, <see cref="Name"/> required) or changes one
/// (<c>PATCH /api/v1/pools/{name}</c>: only the fields given change; the name stays).
/// </summary>
/// <param name="Queues">Queue names; an empty list means every queue.</param>
/// <param name="Projects">Project names (they must exist); an empty list means every project.</param>
public sealed record PoolRequest(
    string? Name = null,
    string? Description = null,
    IReadOnlyList<string>? Queues = null,
    IReadOnlyList<string>? Projects = null,
    bool? ExcludePrivate = null,
    bool? ApprovalRequired = null);

/// <summary>Asks for a new registration token of a pool.</summary>
/// <param name="Comment">What the token is for (shown in lists).</param>
/// <param name="ExpiresInDays">Days until the token stops enrolling workers (1–3650); null: it never expires.</param>
public sealed record CreateRegistrationTokenRequest(string? Comment = null, int? ExpiresInDays = null);

/// <summary>A registration token as lists show it (never its text).</summary>
/// <param name="Prefix">The token's first characters, to tell tokens apart.</param>
public sealed record RegistrationTokenView(
    long Id,
    string Prefix,
    string Pool,
    string Comment,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt);

/// <summary>The answer to creating a registration token: its text, shown this once (only its SHA-256 is kept).</summary>
public sealed record CreatedRegistrationToken(RegistrationTokenView Token, string Secret);
