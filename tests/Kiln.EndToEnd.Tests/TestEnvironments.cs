using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// Environments for tests, cached between runs in ONE place outside the clone: <c>$KILN_TEST_CACHE</c>
/// when set, else <c>/var/cache/kiln-tests</c> (<c>environments/KEY.tar.zst</c>). On a fresh machine the
/// cache is empty and the environment is made by Kiln itself (<c>kiln env create</c>: a kiln/environment
/// job running mmdebstrap on the farm's worker); its tarball is then kept in the cache, and later runs
/// import it (<c>kiln env import</c>). Either way the farm gets a real environment version.
/// </summary>
public static class TestEnvironments
{
    public static string CacheDirectory { get; } =
        Environment.GetEnvironmentVariable("KILN_TEST_CACHE") is { Length: > 0 } dir ? dir : "/var/cache/kiln-tests";

    private static readonly SemaphoreSlim Making = new(1, 1);

    /// <summary>What an environment is made of; the key names its cached tarball.</summary>
    public sealed record Recipe(string Suite, string Architecture, string Variant, params string[] Packages)
    {
        public string Key => $"{Suite}-{Architecture}-{Variant}-" +
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(',', Packages.Order(StringComparer.Ordinal)))))[..12];
    }

    /// <summary>debian/bookworm-amd64 as Debian's buildds have it: what sbuild builds in.</summary>
    public static readonly Recipe Buildd = new("bookworm", "amd64", "buildd");

    /// <summary>The smallest useful root: essential packages only (bash, coreutils, dpkg), for isolation tests.</summary>
    public static readonly Recipe Essential = new("bookworm", "amd64", "essential");

    /// <summary>Gives <paramref name="farm"/> the environment <paramref name="name"/> (a worker serving the environments queue must run).</summary>
    /// <returns>How it was made: "built" (by Kiln, now cached) or "imported" (from the cache).</returns>
    public static async Task<string> EnsureAsync(Farm farm, string name, Recipe recipe)
    {
        var cached = Path.Combine(CacheDirectory, "environments", recipe.Key + ".tar.zst");
        if (File.Exists(cached))
        {
            await RunAsync(farm, "env", "import", name, cached);
            return "imported";
        }
        await Making.WaitAsync();
        try
        {
            if (File.Exists(cached))
            {
                await RunAsync(farm, "env", "import", name, cached);
                return "imported";
            }
            string[] create = ["env", "create", name, "--suite", recipe.Suite, "--arch", recipe.Architecture, "--variant", recipe.Variant, "--wait", "--json"];
            if (recipe.Packages.Length > 0)
            {
                create = [.. create, "--packages", string.Join(',', recipe.Packages)];
            }
            var output = await RunAsync(farm, create);
            var answer = JsonSerializer.Deserialize<EnvironmentBuildResponse>(output[output.IndexOf('{', StringComparison.Ordinal)..], KilnClient.Json)!;
            var version = answer.Environment.Current!;
            Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
            var partial = cached + $".{Environment.ProcessId}.partial";
            var workflow = await farm.Client.GetWorkflowAsync(answer.WorkflowId!.Value, CancellationToken.None);
            var job = workflow.Jobs!.Single();
            await using (var file = File.Create(partial))
            {
                await farm.Client.DownloadArtifactAsync(job.Id, (await farm.Client.ListArtifactsAsync(job.Id, null, CancellationToken.None)).Attempt,
                    "environment.tar.zst", 0, file, CancellationToken.None);
            }
            await using (var check = File.OpenRead(partial))
            {
                Assert.Equal(version.Sha256, Convert.ToHexStringLower(await SHA256.HashDataAsync(check)));
            }
            File.Move(partial, cached, overwrite: true);
            return "built";
        }
        finally
        {
            Making.Release();
        }
    }

    private static async Task<string> RunAsync(Farm farm, params string[] args)
    {
        var (exit, output) = await KilnProcess.RunAsync([.. args, "--server", farm.Url]);
        Assert.True(exit == 0, $"kiln {string.Join(' ', args)} exited {exit}:\n{output}\n{farm.Diagnostics()}");
        return output;
    }
}
