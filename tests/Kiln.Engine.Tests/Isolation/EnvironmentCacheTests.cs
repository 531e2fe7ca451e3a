using System.Diagnostics;
using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Worker.Isolation;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kiln.Engine.Tests.Isolation;

/// <summary>The worker's environment cache with real tarballs (made with tar here): verification, resume, LRU bound, crash recovery.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class EnvironmentCacheTests : IDisposable
{
    private readonly string _directory = Passable(Directory.CreateTempSubdirectory("kiln-envcache-").FullName);

    /// <summary>The jobs' mapped root must pass through the cache's ancestors to reach its tree (docs/worker.md).</summary>
    private static string Passable(string directory)
    {
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_001_001);
        return directory;
    }

    [Fact]
    public async Task A_tarball_whose_hash_differs_is_refused_and_not_kept()
    {
        var (tarball, environment) = MakeTarball("a", 1000);
        var cache = NewCache(1L << 30);
        var wrong = environment with { Sha256 = new string('0', 64) };

        await Assert.ThrowsAsync<InvalidDataException>(() => cache.AcquireAsync(wrong, Copy(tarball), _ => { }, CancellationToken.None));
        Assert.False(File.Exists(Path.Combine(_directory, "cache", wrong.Sha256, "download.partial")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_directory, "cache", wrong.Sha256), "environment.tar*"));
    }

    [Fact]
    public async Task An_interrupted_download_resumes_from_where_it_stopped_and_is_then_verified_and_extracted()
    {
        var (tarball, environment) = MakeTarball("b", 200_000);
        var cache = NewCache(1L << 30);
        var asked = new List<long>();
        // The first download breaks after 1000 bytes, as a dropped connection would.
        await Assert.ThrowsAsync<IOException>(() => cache.AcquireAsync(environment, async (from, into, ct) =>
        {
            asked.Add(from);
            await using var source = File.OpenRead(tarball);
            var buffer = new byte[1000];
            await source.ReadExactlyAsync(buffer, ct);
            await into.WriteAsync(buffer, ct);
            throw new IOException("connection reset");
        }, _ => { }, CancellationToken.None));

        using var lease = await cache.AcquireAsync(environment, async (from, into, ct) =>
        {
            asked.Add(from);
            await EnvironmentJobs.CopyFromAsync(tarball, from, into, ct);
        }, _ => { }, CancellationToken.None);

        Assert.Equal([0L, 1000L], asked);
        Assert.True(File.Exists(Path.Combine(lease.Root, "payload")));

    }

    [Fact]
    public async Task Past_its_bound_the_cache_evicts_the_least_recently_used_entry_that_no_task_holds()
    {
        var (first, firstEnv) = MakeTarball("c1", 3 << 20);
        var (second, secondEnv) = MakeTarball("c2", 3 << 20);
        var (third, thirdEnv) = MakeTarball("c3", 3 << 20);
        var cache = NewCache(14L << 20);   // two entries fit (tarball + tree ≈ 6 MiB each), not three

        var held = await cache.AcquireAsync(firstEnv, Copy(first), _ => { }, CancellationToken.None);
        using (await cache.AcquireAsync(secondEnv, Copy(second), _ => { }, CancellationToken.None))
        {
        }
        using (await cache.AcquireAsync(thirdEnv, Copy(third), _ => { }, CancellationToken.None))
        {
        }

        // The first is older but held by a running task; the second goes.
        Assert.True(Directory.Exists(Path.Combine(_directory, "cache", firstEnv.Sha256)));
        Assert.False(Directory.Exists(Path.Combine(_directory, "cache", secondEnv.Sha256)));
        Assert.True(Directory.Exists(Path.Combine(_directory, "cache", thirdEnv.Sha256)));
        held.Dispose();
    }

    [Fact]
    public async Task An_entry_whose_extraction_did_not_complete_is_extracted_again_and_a_complete_one_is_not_downloaded_again()
    {
        var (tarball, environment) = MakeTarball("d", 1000);
        var cache = NewCache(1L << 30);
        using (await cache.AcquireAsync(environment, Copy(tarball), _ => { }, CancellationToken.None))
        {
        }
        var entry = Path.Combine(_directory, "cache", environment.Sha256);
        // A crash mid-extract: no marker, a half tree.
        File.Delete(Path.Combine(entry, "complete"));
        File.Delete(Path.Combine(entry, "root", "payload"));
        var downloads = 0;

        using var lease = await NewCache(1L << 30).AcquireAsync(environment, (from, into, ct) => { downloads++; return Task.CompletedTask; }, _ => { }, CancellationToken.None);

        Assert.Equal(0, downloads);
        Assert.True(File.Exists(Path.Combine(lease.Root, "payload")));
        Assert.True(File.Exists(Path.Combine(entry, "complete")));
    }

    private EnvironmentCache NewCache(long bound) =>
        new(Path.Combine(_directory, "cache"), bound, SubordinateIds.ForCurrentUser().Ids!, NullLogger.Instance, TimeProvider.System);

    private static Func<long, Stream, CancellationToken, Task> Copy(string tarball) => (from, into, ct) => EnvironmentJobs.CopyFromAsync(tarball, from, into, ct);

    /// <summary>A gzip tarball of one file of <paramref name="bytes"/> random bytes (incompressible, so sizes are predictable).</summary>
    private (string Tarball, EnvironmentRef Environment) MakeTarball(string name, int bytes)
    {
        var source = Path.Combine(_directory, $"src-{name}");
        Directory.CreateDirectory(source);
        File.WriteAllBytes(Path.Combine(source, "payload"), RandomNumberGenerator.GetBytes(bytes));
        var tarball = Path.Combine(_directory, $"{name}.tar.gz");
        using (var tar = Process.Start("tar", ["-czf", tarball, "-C", source, "."]))
        {
            tar.WaitForExit();
            Assert.Equal(0, tar.ExitCode);
        }
        var sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(tarball)));
        return (tarball, new EnvironmentRef($"test/{name}", 1, sha, new FileInfo(tarball).Length));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
