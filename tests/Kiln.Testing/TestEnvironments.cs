using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Kiln.Testing;

/// <summary>
/// Small Debian root filesystems for tests of jobs in environments, made with <c>mmdebstrap</c> from Debian's mirror
/// and cached OUTSIDE the clone in one place: <c>$KILN_TEST_CACHE/environments/</c>, else
/// <c>/var/cache/kiln-tests/environments/</c>, by key (suite + variant + package list), rebuilt when missing.
/// Concurrent test processes build one at a time (a lock file) and publish by rename.
/// </summary>
public static class TestEnvironments
{
    public const string Mirror = "http://deb.debian.org/debian";

    public static string CacheDirectory =>
        Path.Combine(Environment.GetEnvironmentVariable("KILN_TEST_CACHE") is { Length: > 0 } root ? root : "/var/cache/kiln-tests", "environments");

    private static readonly SemaphoreSlim Building = new(1, 1);

    /// <summary>bookworm, variant essential (bash, coreutils, util-linux, no apt): ≈ 40 MB, ≈ 30 s to make.</summary>
    public static Task<string> EssentialAsync() => TarballAsync("bookworm", "essential", []);

    /// <summary>The cached tarball for (suite, variant, packages), made first if missing.</summary>
    public static async Task<string> TarballAsync(string suite, string variant, IReadOnlyList<string> packages)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{suite}\n{variant}\n{string.Join(',', packages.Order(StringComparer.Ordinal))}")))[..12];
        var tarball = Path.Combine(CacheDirectory, $"{suite}-{variant}-{key}.tar.zst");
        if (File.Exists(tarball))
        {
            return tarball;
        }
        await Building.WaitAsync();
        try
        {
            Directory.CreateDirectory(CacheDirectory);
            await using var lockFile = new FileStream(tarball + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            if (File.Exists(tarball))
            {
                return tarball;
            }
            var building = $"{tarball}.{Environment.ProcessId}.tar.zst";
            var psi = new ProcessStartInfo("mmdebstrap") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in (string[])[$"--variant={variant}", .. packages.Count > 0 ? [$"--include={string.Join(',', packages)}"] : Array.Empty<string>(), suite, building, Mirror])
            {
                psi.ArgumentList.Add(arg);
            }
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("mmdebstrap did not start");
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                File.Delete(building);
                throw new InvalidOperationException($"mmdebstrap {suite} ({variant}) failed with {process.ExitCode}:\n{stdout}\n{await stderr}");
            }
            File.Move(building, tarball);
            return tarball;
        }
        finally
        {
            Building.Release();
        }
    }
}
