using System.Text.RegularExpressions;
using Kiln.Store.Artifacts;
using Kiln.Store.Repositories;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Repositories;

/// <summary>
/// Publishes the artifacts of a publish job's needs into its project's repository for the suite.
/// One publisher per repository at a time (its row is locked for the whole publish); incremental (new
/// pool files are added, a file already published is unchanged, a different file at a published path
/// is refused); atomic (a new snapshot beside the old, then <c>current</c> switched with rename(2)).
/// </summary>
public sealed partial class RepositoryPublisher(RepositoryStore store, IBlobStore blobs, SigningKeys keys, RepositoryPaths paths, TimeProvider time, ILogger<RepositoryPublisher> logger)
{
    /// <summary>Most files one publish takes from its needs.</summary>
    public const int MaxInputs = 5000;

    /// <summary>The suite names the repositories table allows; key.asc and key.gpg are the project's key.</summary>
    [GeneratedRegex(@"^[a-z0-9][a-z0-9.+_-]{0,63}$")]
    public static partial Regex SuiteName();

    public static bool IsSuite(string? suite) => suite is not null && SuiteName().IsMatch(suite) && suite is not ("key.asc" or "key.gpg");

    /// <summary>What a publish did: the snapshot served, files added and already there.</summary>
    public sealed record Outcome(string Format, int Snapshot, int Added, int Unchanged);

    /// <exception cref="PublishRefusedException">A file conflicts with what is published, or is not a package.</exception>
    public async Task<Outcome> PublishAsync(PublishJob job, string format, IReadOnlyList<PublishInput> inputs, CancellationToken ct)
    {
        var suite = job.Suite!;
        var layout = paths.Layout(job.Project, suite);
        var incoming = Path.Combine(layout.Incoming, Guid.NewGuid().ToString("N"));
        try
        {
            var offered = format == "apt"
                ? await PublishCandidates.AptAsync(inputs, blobs, incoming, ct)
                : await PublishCandidates.RpmAsync(inputs, blobs, incoming, ct);
            await using var held = await store.LockAsync(job.ProjectId, suite, format, ct);
            if (held.Format != format)
            {
                throw new PublishRefusedException(StatusCodes.Status409Conflict, suite,
                    $"suite '{suite}' of project '{job.Project}' is an {held.Format.ToUpperInvariant()} repository; an {format}/publish job cannot publish to it");
            }
            var published = held.Packages.ToDictionary(p => p.Filename, StringComparer.Ordinal);
            var added = new Dictionary<string, PoolFile>(StringComparer.Ordinal);
            var unchanged = 0;
            foreach (var file in offered)
            {
                if (published.TryGetValue(file.Filename, out var there) || added.TryGetValue(file.Filename, out _))
                {
                    var sha = there?.Sha256 ?? added[file.Filename].Sha256;
                    if (sha != file.Sha256)
                    {
                        throw new PublishRefusedException(StatusCodes.Status409Conflict, file.Filename,
                            $"{file.Filename} is {(there is not null ? "already published" : "offered twice")} with other content (SHA-256 {sha}, not {file.Sha256}); a published file is never replaced: give the package a new version");
                    }
                    unchanged += there is not null ? 1 : 0;
                    continue;
                }
                added[file.Filename] = file;
            }
            if (added.Count == 0 && held.Snapshot > 0 && layout.CurrentNumber() is not null)
            {
                await held.CommitAsync([], held.Snapshot, ct);
                return new Outcome(format, held.Snapshot, 0, unchanged);
            }

            await held.LockSigningKeyAsync(job.ProjectId, ct);
            var fingerprint = await keys.EnsureAsync(job.Project, ct);
            var now = time.GetUtcNow();
            foreach (var file in added.Values)
            {
                var target = Path.Combine(layout.Files, file.Filename);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                // Not in the database, so never published: a file left by a publish that did not commit may be replaced.
                File.Move(file.LocalPath, target, overwrite: true);
            }
            var newRows = added.Values.Select(f => new RepositoryPackage(
                f.Package, f.Version, f.Architecture, f.Filename, f.Sha256, f.Size, f.Control, f.SourcePackage, f.WorkRequestId, now, f.Md5)).ToList();
            var rows = held.Packages.Concat(newRows).ToList();

            var previous = layout.CurrentNumber();
            var number = layout.NextSnapshot(held.Snapshot);
            var directory = layout.Snapshot(number);
            Directory.CreateDirectory(directory);
            if (format == "apt")
            {
                var older = layout.SnapshotNumbers().Where(n => n < number && n >= number - RepositoryLayout.KeptSnapshots).ToList();
                var release = await AptSnapshotWriter.WriteAsync(layout, directory, job.Project, suite, rows, older, now, ct);
                var dists = Path.GetDirectoryName(release)!;
                await keys.SignAsync(job.Project, fingerprint, release, Path.Combine(dists, "InRelease"), Path.Combine(dists, "Release.gpg"), ct);
            }
            else
            {
                var repomd = await RpmSnapshotWriter.WriteAsync(layout, directory, rows, previous, ct);
                await keys.SignAsync(job.Project, fingerprint, repomd, null, $"{repomd}.asc", ct);
            }

            // Switched while the row is still locked, so a later publisher's switch always comes after this one.
            layout.Switch(number);
            try
            {
                await held.CommitAsync(newRows, number, ct);
            }
            catch
            {
                if (previous is { } back)
                {
                    layout.Switch(back);
                }
                throw;
            }
            LogPublished(logger, job.Project, suite, number, added.Count, unchanged);
            try
            {
                layout.Prune(number);
            }
            catch (IOException e)
            {
                LogPruneFailed(logger, layout.Root, e.Message);
            }
            return new Outcome(format, number, added.Count, unchanged);
        }
        finally
        {
            if (Directory.Exists(incoming))
            {
                Directory.Delete(incoming, recursive: true);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Published {Project}/{Suite} snapshot {Snapshot}: {Added} added, {Unchanged} unchanged")]
    private static partial void LogPublished(ILogger logger, string project, string suite, int snapshot, int added, int unchanged);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Old snapshots of {Repository} were not all removed: {Message}; the next publish tries again")]
    private static partial void LogPruneFailed(ILogger logger, string repository, string message);
}
