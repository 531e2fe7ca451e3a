using System.Text.Json;

namespace Kiln.Contracts;

/// <summary>
/// The worker's upload of an attempt's structured result (<c>PUT /api/v1/work-requests/{id}/result</c>),
/// the JSON its kind wrote to <c>$KILN_RESULT_FILE</c>.
/// </summary>
public sealed record ResultUpload(Guid LeaseToken, JsonElement Result);

/// <summary>
/// The server's verdict on an uploaded result: <see cref="Fail"/> when the tool reported a failure the exit
/// code hid (sbuild's <c>Status: skipped</c>), or a policy fails it (an autopkgtest regression with
/// <c>fail-on-regression</c>); the worker then reports the attempt failed with <see cref="Message"/>.
/// </summary>
public sealed record ResultVerdict(bool Fail, string? Message);

/// <summary>A publish job's request (<c>POST /api/v1/work-requests/{id}/publish</c>), under its lease.</summary>
public sealed record PublishRequest(Guid LeaseToken);

/// <summary>What a publish did: the repository, the snapshot now served, the files added and those already there.</summary>
public sealed record PublishResponse(string Repository, int Snapshot, int Added, int Unchanged, string Url, string? SourcesLine);
