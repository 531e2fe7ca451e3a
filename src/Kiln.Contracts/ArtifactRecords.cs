namespace Kiln.Contracts;

/// <summary>
/// A worker declaring an output file of its attempt. If the server already holds content with
/// this SHA-256 the artifact is recorded at once (de-duplication); otherwise the answer says
/// from which offset to upload the content.
/// </summary>
/// <param name="LeaseToken">The attempt's lease: only the attempt that holds it may add artifacts.</param>
/// <param name="Path">Relative path inside the task's working directory (no <c>..</c>, no leading <c>/</c>).</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the content.</param>
/// <param name="Size">Content length in bytes.</param>
public sealed record ArtifactUploadRequest(Guid LeaseToken, string Path, string Sha256, long Size);

/// <summary>Where an artifact upload stands.</summary>
/// <param name="Complete">The artifact is recorded; nothing more to send.</param>
/// <param name="UploadOffset">Bytes of the content the server holds; send the rest from here.</param>
/// <param name="Artifact">The recorded artifact when <see cref="Complete"/>.</param>
public sealed record ArtifactUploadResponse(bool Complete, long UploadOffset, ArtifactView? Artifact);

/// <summary>One file produced by an attempt of a work request, stored by content.</summary>
public sealed record ArtifactView(long Id, long WorkRequestId, int Attempt, string Path, string Sha256, long Size, DateTimeOffset CreatedAt);

/// <summary>Artifacts of one attempt of a work request.</summary>
/// <param name="Attempt">The attempt listed (the work request's latest attempt unless one was asked for).</param>
public sealed record ArtifactList(long WorkRequestId, int Attempt, IReadOnlyList<ArtifactView> Items);
