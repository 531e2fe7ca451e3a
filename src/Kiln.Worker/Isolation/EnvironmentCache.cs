using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Kiln.Contracts;
using Microsoft.Extensions.Logging;

namespace Kiln.Worker.Isolation;

/// <summary>
/// The worker's environments, one entry per tarball hash in <c>&lt;cache&gt;/&lt;sha256&gt;/</c>:
/// <c>download.partial</c> while fetching (resumed from its length after a crash), then the tarball
/// itself (<c>environment.tar[.zst|.gz|.xz]</c>, renamed into place only after its SHA-256 matched), then
/// <c>root/</c>, the tree extracted inside a user namespace so that it is owned by the job's mapped ids,
/// and last the <c>complete</c> marker (holding the entry's bytes). An entry without the marker is a crash
/// mid-extract: its tree is deleted and extracted again. Entries not in use by a running task are evicted,
/// least recently used first, when the total passes the bound.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class EnvironmentCache
{
    private const string Partial = "download.partial";
    private const string Marker = "complete";
    private const string UsedStamp = "used";

    private const UnixFileMode Passable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    private readonly string _directory;
    private readonly long _bound;
    private readonly SubordinateIds _ids;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);
    /// <summary>Entries held by running tasks (hash → holders). Guarded by itself.</summary>
    private readonly Dictionary<string, int> _inUse = new(StringComparer.Ordinal);

    public EnvironmentCache(string directory, long bound, SubordinateIds ids, ILogger logger, TimeProvider time)
    {
        _directory = directory;
        _bound = bound;
        _ids = ids;
        _logger = logger;
        _time = time;
    }

    /// <summary>
    /// The verified, extracted environment <paramref name="environment"/>, fetched with <paramref name="download"/>
    /// (from a byte offset into a stream) if this worker does not have it yet. Held (never evicted) until the lease is disposed.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes do not hash to the environment's SHA-256, or the tarball does not extract.</exception>
    public async Task<EnvironmentLease> AcquireAsync(EnvironmentRef environment, Func<long, Stream, CancellationToken, Task> download, Action<string> note, CancellationToken ct)
    {
        var sha = environment.Sha256.ToLowerInvariant();
        if (sha.Length != 64 || !sha.All(Uri.IsHexDigit))
        {
            throw new InvalidDataException($"environment {environment.Name} has no valid sha256 ('{environment.Sha256}')");
        }
        var gate = _locks.GetOrAdd(sha, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            Hold(sha, +1);
            try
            {
                var entry = Path.Combine(_directory, sha);
                // Passable (not listable) by the jobs' mapped root, which reads the extracted tree as its lower layer.
                Directory.CreateDirectory(entry, Passable);
                File.SetUnixFileMode(_directory, Passable);
                var tarball = FindTarball(entry) ?? await FetchAsync(environment, entry, download, note, ct);
                var root = Path.Combine(entry, "root");
                if (!File.Exists(Path.Combine(entry, Marker)))
                {
                    Extract(environment, entry, tarball, root, note);
                }
                else
                {
                    note($"environment {environment.Name} v{environment.Version} ({sha[..12]}) is cached");
                }
                File.WriteAllText(Path.Combine(entry, UsedStamp), "");
                File.SetLastWriteTimeUtc(Path.Combine(entry, UsedStamp), _time.GetUtcNow().UtcDateTime);
                var lease = new EnvironmentLease(tarball, root, () => Hold(sha, -1));
                EvictBeyondBound();
                return lease;
            }
            catch
            {
                Hold(sha, -1);
                throw;
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Bytes the complete entries take, by their markers.</summary>
    public long TotalBytes() => Entries().Sum(e => e.Bytes);

    private async Task<string> FetchAsync(EnvironmentRef environment, string entry, Func<long, Stream, CancellationToken, Task> download, Action<string> note, CancellationToken ct)
    {
        var partial = Path.Combine(entry, Partial);
        var have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (have > environment.Size)
        {
            File.Delete(partial);
            have = 0;
        }
        note(have > 0
            ? $"resuming the download of environment {environment.Name} v{environment.Version} at byte {have} of {environment.Size}"
            : $"downloading environment {environment.Name} v{environment.Version} ({environment.Size} bytes)");
        if (have < environment.Size)
        {
            await using var file = new FileStream(partial, FileMode.Append, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            await download(have, file, ct);
        }
        string actual;
        await using (var read = new FileStream(partial, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true))
        {
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(read, ct));
        }
        if (!string.Equals(actual, environment.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            // Nothing of it can be trusted, resumed or not: the next attempt starts from byte 0.
            File.Delete(partial);
            throw new InvalidDataException($"environment {environment.Name} v{environment.Version}: the downloaded tarball hashes to {actual}, not {environment.Sha256}; refused");
        }
        var tarball = Path.Combine(entry, "environment" + Extension(partial));
        File.Move(partial, tarball, overwrite: true);
        return tarball;
    }

    /// <summary>Extracts inside a user namespace mapped onto the job ids, so files owned by root in the tarball are owned by the job's root.</summary>
    private void Extract(EnvironmentRef environment, string entry, string tarball, string root, Action<string> note)
    {
        if (Directory.Exists(root))
        {
            IsolationLog.RebuildingDamaged(_logger, environment.Sha256);
            note($"environment {environment.Name}: a previous extraction did not finish; extracting again");
            Directory.Delete(root, recursive: true);
        }
        // The job's mapped root is not root on the host: it passes only directories open to others.
        for (var dir = new DirectoryInfo(entry).Parent; dir is not null; dir = dir.Parent)
        {
            if (dir.Exists && (dir.UnixFileMode & UnixFileMode.OtherExecute) == 0)
            {
                throw new InvalidDataException(
                    $"jobs cannot reach the environment cache {_directory}: {dir.FullName} is closed to other users; 'chmod o+x {dir.FullName}' or choose another --work-dir / --environment-cache (worker.md)");
            }
        }
        Directory.CreateDirectory(root);
        Posix.Chown(root, _ids.Start);
        var started = _time.GetTimestamp();
        // Device nodes cannot be made in a user namespace, and every job gets a fresh /dev anyway.
        var (code, output) = HostCommand.Run("/usr/bin/unshare", [.. _ids.UnshareArguments(), "tar", "-x", "-f", tarball, "-C", root, "--numeric-owner", "--exclude=./dev/*"]);
        if (code != 0)
        {
            throw new InvalidDataException($"environment {environment.Name} v{environment.Version} did not extract (tar exit {code}): {output.Trim()}");
        }
        var bytes = new FileInfo(tarball).Length + TreeBytes(root);
        File.WriteAllText(Path.Combine(entry, Marker), bytes.ToString(CultureInfo.InvariantCulture));
        note($"environment {environment.Name} v{environment.Version} extracted in {_time.GetElapsedTime(started).TotalSeconds:0.0} s");
    }

    private void EvictBeyondBound()
    {
        var entries = Entries().OrderBy(e => e.Used).ToList();
        var total = entries.Sum(e => e.Bytes);
        foreach (var entry in entries)
        {
            if (total <= _bound)
            {
                return;
            }
            lock (_inUse)
            {
                if (_inUse.ContainsKey(entry.Sha))
                {
                    continue;
                }
                // The marker goes first: a crash mid-delete leaves an incomplete entry, rebuilt when next wanted.
                File.Delete(Path.Combine(_directory, entry.Sha, Marker));
                Directory.Delete(Path.Combine(_directory, entry.Sha), recursive: true);
            }
            IsolationLog.Evicted(_logger, entry.Sha, entry.Bytes, _bound);
            total -= entry.Bytes;
        }
    }

    private IEnumerable<(string Sha, long Bytes, DateTime Used)> Entries()
    {
        if (!Directory.Exists(_directory))
        {
            yield break;
        }
        foreach (var dir in Directory.EnumerateDirectories(_directory))
        {
            var marker = Path.Combine(dir, Marker);
            if (File.Exists(marker) && long.TryParse(File.ReadAllText(marker), CultureInfo.InvariantCulture, out var bytes))
            {
                var stamp = Path.Combine(dir, UsedStamp);
                yield return (Path.GetFileName(dir), bytes, File.Exists(stamp) ? File.GetLastWriteTimeUtc(stamp) : DateTime.MinValue);
            }
        }
    }

    private void Hold(string sha, int delta)
    {
        lock (_inUse)
        {
            var now = _inUse.GetValueOrDefault(sha) + delta;
            if (now <= 0)
            {
                _inUse.Remove(sha);
            }
            else
            {
                _inUse[sha] = now;
            }
        }
    }

    private static string? FindTarball(string entry) =>
        Directory.EnumerateFiles(entry, "environment.tar*").FirstOrDefault();

    /// <summary>The tarball's name says its compression (sbuild and tar read it from there).</summary>
    private static string Extension(string file)
    {
        Span<byte> magic = stackalloc byte[6];
        using var stream = File.OpenRead(file);
        var read = stream.Read(magic);
        return read switch
        {
            >= 4 when magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD => ".tar.zst",
            >= 2 when magic[0] == 0x1F && magic[1] == 0x8B => ".tar.gz",
            >= 6 when magic[0] == 0xFD && magic[1] == (byte)'7' && magic[2] == (byte)'z' && magic[3] == (byte)'X' => ".tar.xz",
            _ => ".tar",
        };
    }

    private static long TreeBytes(string root) =>
        new DirectoryInfo(root).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true })
            .Sum(f => f.Length);
}
