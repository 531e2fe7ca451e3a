using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Store.Artifacts;
using Kiln.Store.Identity;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// What the source intake and rebuild tests need, made for real: a private project with a
/// maintainer, a contributor and a viewer (SQL and the identity stores), imported environments
/// (an environments row whose version is a tiny blob written through the blob store), and source
/// packages built by the Debian and RPM tools themselves (dpkg-source -b, rpmbuild -bs) in a temp directory.
/// </summary>
public sealed class PackagingFarm : IDisposable
{
    private readonly ServerFixture _server;

    private PackagingFarm(ServerFixture server, string prefix)
    {
        _server = server;
        Project = $"{prefix}-private";
        Directory = System.IO.Directory.CreateTempSubdirectory("kiln-intake-").FullName;
    }

    public string Project { get; }

    /// <summary>A temp directory for this farm's source packages.</summary>
    public string Directory { get; }

    public HttpClient Maintainer { get; private set; } = null!;

    public HttpClient Contributor { get; private set; } = null!;

    public HttpClient Viewer { get; private set; } = null!;

    public HttpClient Outsider { get; private set; } = null!;

    public static async Task<PackagingFarm> CreateAsync(ServerFixture server, string prefix)
    {
        var farm = new PackagingFarm(server, prefix);
        var identity = server.Host.Services.GetRequiredService<IdentityStore>();
        var access = server.Host.Services.GetRequiredService<AccessStore>();
        var maintainer = await farm.UserAsync($"{prefix}-maintainer");
        Assert.NotNull(await access.CreateProjectAsync(farm.Project, maintainer, isPrivate: true, "", CancellationToken.None));
        await farm.SqlAsync("UPDATE project_members SET role = 'maintainer' WHERE user_id = @b", farm.Project, maintainer);
        var contributor = await farm.UserAsync($"{prefix}-contributor");
        var viewer = await farm.UserAsync($"{prefix}-viewer");
        var outsider = await farm.UserAsync($"{prefix}-outsider");
        await farm.SqlAsync("INSERT INTO project_members (project_id, user_id, role, added_at) SELECT id, @b, @c, now() FROM projects WHERE name = @a", farm.Project, contributor, "contributor");
        await farm.SqlAsync("INSERT INTO project_members (project_id, user_id, role, added_at) SELECT id, @b, @c, now() FROM projects WHERE name = @a", farm.Project, viewer, "viewer");
        async Task<HttpClient> ClientAsync(long user)
        {
            var client = server.AnonymousClient();
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await identity.CreateTokenAsync(user, "intake", Scopes.All, null, CancellationToken.None)).Token);
            return client;
        }
        farm.Maintainer = await ClientAsync(maintainer);
        farm.Contributor = await ClientAsync(contributor);
        farm.Viewer = await ClientAsync(viewer);
        farm.Outsider = await ClientAsync(outsider);
        return farm;
    }

    /// <summary>Makes environment <paramref name="name"/> exist with one version (a tiny blob; no job runs in these tests).</summary>
    public async Task EnvironmentAsync(string name)
    {
        var content = System.Text.Encoding.UTF8.GetBytes($"not a real root filesystem: {name}");
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        await StoreBlobAsync(content);
        await SqlAsync("INSERT INTO environments (name, builder, created_at) VALUES (@a, 'imported', now()) ON CONFLICT (name) DO NOTHING", name);
        await SqlAsync("""
            INSERT INTO environment_versions (environment_id, version, sha256, size, created_at)
            SELECT id, 1, @c, @b, now() FROM environments WHERE name = @a ON CONFLICT DO NOTHING
            """, name, content.Length, sha);
    }

    /// <summary>Stores bytes as a blob, as an upload would.</summary>
    public async Task<string> StoreBlobAsync(byte[] content)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var blobs = _server.Host.Services.GetRequiredService<IBlobStore>();
        await blobs.AppendAsync(sha, content.Length, 0, new MemoryStream(content), CancellationToken.None);
        Assert.True(await blobs.CompleteAsync(sha, content.Length, CancellationToken.None));
        await _server.Host.Services.GetRequiredService<ArtifactStore>().AddBlobAsync(sha, content.Length, CancellationToken.None);
        return sha;
    }

    /// <summary>A native Debian source package made by dpkg-source -b; returns the .dsc's path (its .tar.xz beside it).</summary>
    public string MakeDsc(string package, string version, string? extra = null)
    {
        var root = Path.Combine(Directory, $"{package}-{version}");
        System.IO.Directory.CreateDirectory(Path.Combine(root, "debian", "source"));
        File.WriteAllText(Path.Combine(root, "debian", "source", "format"), "3.0 (native)\n");
        File.WriteAllText(Path.Combine(root, "debian", "changelog"), $"{package} ({version}) unstable; urgency=low\n\n  * Test package.\n\n -- Kiln Tests <tests@kiln.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n");
        File.WriteAllText(Path.Combine(root, "debian", "control"),
            $"Source: {package}\nMaintainer: Kiln Tests <tests@kiln.invalid>\nSection: misc\nPriority: optional\nStandards-Version: 4.6.2\nBuild-Depends: debhelper-compat (= 13)\n\nPackage: {package}\nArchitecture: all\nDescription: test\n a test package\n");
        File.WriteAllText(Path.Combine(root, "debian", "rules"), "#!/usr/bin/make -f\n%:\n\tdh $@\n");
        File.WriteAllText(Path.Combine(root, "hello.txt"), $"hello from {package} {version} {extra}\n");
        Run("dpkg-source", Directory, "-b", $"{package}-{version}");
        return Path.Combine(Directory, $"{package}_{version}.dsc");
    }

    /// <summary>A source RPM made by rpmbuild -bs from a spec without sources; returns its path.</summary>
    public string MakeSrpm(string name, string version, string release)
    {
        var top = Path.Combine(Directory, "rpm-" + name);
        System.IO.Directory.CreateDirectory(Path.Combine(top, "SPECS"));
        var spec = Path.Combine(top, "SPECS", name + ".spec");
        File.WriteAllText(spec, $"Name: {name}\nVersion: {version}\nRelease: {release}\nSummary: test\nLicense: MIT\nBuildArch: noarch\n\n%description\nA test package.\n\n%files\n");
        Run("rpmbuild", top, "-bs", "--define", $"_topdir {top}", spec);
        return Path.Combine(top, "SRPMS", $"{name}-{version}-{release}.src.rpm");
    }

    public async Task<object?> SqlAsync(string sql, string a, long b = 0, string c = "")
    {
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, db);
        cmd.Parameters.AddWithValue("a", a);
        cmd.Parameters.AddWithValue("b", b);
        cmd.Parameters.AddWithValue("c", c);
        return await cmd.ExecuteScalarAsync();
    }

    /// <summary>Rows of a query as tab-joined text, for assertions on what was stored.</summary>
    public async Task<List<string>> RowsAsync(string sql, long id)
    {
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, db);
        cmd.Parameters.AddWithValue("id", id);
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join("\t", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }
        return rows;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless.
        }
    }

    private static void Run(string tool, string directory, params string[] args)
    {
        var start = new ProcessStartInfo(tool) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{tool} failed: {error}{output.Result}");
    }

    private async Task<long> UserAsync(string name) => (long)(await SqlAsync("INSERT INTO users (name, created_at) VALUES (@a, now()) RETURNING id", name))!;
}
