using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Server.Hosting;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>A server whose data directory (repositories, signing keys, blobs) is a fresh temporary one.</summary>
public sealed class RepositoryServerFixture : ServerFixture
{
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("kiln-repos-").FullName;

    public override KilnServerOptions Options(string connectionString) => base.Options(connectionString) with { DataDirectory = DataDirectory };
}

/// <summary>
/// What the repository tests do through the real API: build tiny real packages with dpkg-deb and
/// rpmbuild, run a build job that outputs them (as a worker: claim, upload, complete), and claim the
/// publish job that needs it, so the test can call the publish endpoint under its lease.
/// </summary>
internal sealed class RepositoryFarm(RepositoryServerFixture server) : IAsyncDisposable
{
    public const string BuildQueue = "repo-build";

    private readonly List<HttpClient> _clients = [];

    public string Scratch { get; } = Directory.CreateTempSubdirectory("kiln-repo-test-").FullName;

    /// <summary>A publish job claimed by a worker: publish with <see cref="Worker"/> under <see cref="Assignment"/>'s lease.</summary>
    public sealed record HeldPublish(KilnClient Worker, Assignment Assignment, long BuildId)
    {
        public Task<PublishResponse> PublishAsync() => Worker.PublishAsync(Assignment.WorkRequestId, Assignment.LeaseToken, CancellationToken.None);
    }

    /// <summary>A .deb made by dpkg-deb: a control file and one file whose text is <paramref name="content"/>.</summary>
    public async Task<string> DebAsync(string package, string version, string architecture = "amd64", string content = "hello", string? source = null)
    {
        var root = Path.Combine(Scratch, $"{package}-{version}-{architecture}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(root, "DEBIAN"));
        Directory.CreateDirectory(Path.Combine(root, "usr", "share", package));
        await File.WriteAllTextAsync(Path.Combine(root, "usr", "share", package, "hello.txt"), content + "\n");
        await File.WriteAllTextAsync(Path.Combine(root, "DEBIAN", "control"),
            $"Package: {package}\n{(source is null ? "" : $"Source: {source}\n")}Version: {version}\nArchitecture: {architecture}\nMaintainer: Kiln Tests <tests@kiln.invalid>\nDescription: a test package\n a longer description line\n");
        var deb = Path.Combine(Scratch, $"{Guid.NewGuid():N}", $"{package}_{version}_{architecture}.deb");
        Directory.CreateDirectory(Path.GetDirectoryName(deb)!);
        await RunAsync("dpkg-deb", "--build", "--root-owner-group", root, deb);
        return deb;
    }

    /// <summary>A noarch RPM made by rpmbuild from a trivial spec.</summary>
    public async Task<string> RpmAsync(string name, string version)
    {
        var top = Path.Combine(Scratch, $"rpm-{Guid.NewGuid():N}");
        Directory.CreateDirectory(top);
        var spec = Path.Combine(top, $"{name}.spec");
        await File.WriteAllTextAsync(spec, $$"""
            Name: {{name}}
            Version: {{version}}
            Release: 1
            Summary: a test package
            License: MIT
            BuildArch: noarch
            %description
            a test package
            %install
            mkdir -p %{buildroot}/usr/share/{{name}}
            echo hello > %{buildroot}/usr/share/{{name}}/hello.txt
            %files
            /usr/share/{{name}}/hello.txt
            """);
        await RunAsync("rpmbuild", "-bb", "--quiet", "--define", $"_topdir {top}", spec);
        return Path.Combine(top, "RPMS", "noarch", $"{name}-{version}-1.noarch.rpm");
    }

    /// <summary>
    /// Submits build → publish (uses <paramref name="kind"/>, suite <paramref name="suite"/>) in <paramref name="project"/>,
    /// runs the build as a worker that outputs <paramref name="files"/>, and claims the publish job.
    /// </summary>
    public async Task<HeldPublish> ClaimPublishAsync(string project, string suite, string kind, params string[] files)
    {
        var workflow = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Project = project,
            Jobs = new()
            {
                ["build"] = new JobDocument { Run = "true", Requires = new() { Queue = BuildQueue }, Outputs = ["out/*"] },
                ["publish"] = new JobDocument { Uses = kind, With = new() { ["suite"] = suite }, Needs = ["build"] },
            },
        });
        Assert.Equal(HttpStatusCode.Created, workflow.StatusCode);
        var workflowId = (await workflow.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
        var http = await server.RegisterWorkerAsync($"repo-worker-{Guid.NewGuid():N}", queues: [BuildQueue, "publish"], slots: 2);
        _clients.Add(http);
        var worker = new KilnClient(http);
        var build = await ClaimOwnAsync(worker, workflowId, "build");
        foreach (var file in files)
        {
            await UploadAsync(worker, build, $"out/{Path.GetFileName(file)}", await File.ReadAllBytesAsync(file));
        }
        await worker.CompleteAsync(build.WorkRequestId, new CompleteRequest(build.LeaseToken, "succeeded", 0, null), CancellationToken.None);
        return new HeldPublish(worker, await ClaimOwnAsync(worker, workflowId, "publish"), build.WorkRequestId);
    }

    /// <summary>Claims until the job <paramref name="name"/> of the workflow comes; anything else claimed (left by an earlier test) is ended.</summary>
    private static async Task<Assignment> ClaimOwnAsync(KilnClient worker, long workflowId, string name)
    {
        for (var round = 0; round < 20; round++)
        {
            foreach (var a in (await worker.ClaimAsync(new ClaimRequest(1, 5), CancellationToken.None)).Assignments)
            {
                if (a.WorkflowId == workflowId && a.Name == name)
                {
                    return a;
                }
                await worker.CompleteAsync(a.WorkRequestId, new CompleteRequest(a.LeaseToken, "failed", 1, "left by an earlier test"), CancellationToken.None);
            }
        }
        throw new InvalidOperationException($"job {name} of workflow {workflowId} was never handed out");
    }

    public static async Task UploadAsync(KilnClient worker, Assignment a, string path, byte[] bytes)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var declared = await worker.BeginArtifactAsync(a.WorkRequestId, new ArtifactUploadRequest(a.LeaseToken, path, sha, bytes.Length), CancellationToken.None);
        if (!declared.Complete)
        {
            using var content = new MemoryStream(bytes);
            await worker.UploadArtifactContentAsync(a.WorkRequestId, a.LeaseToken, sha, bytes.Length, 0, content, bytes.Length, CancellationToken.None);
            Assert.True((await worker.BeginArtifactAsync(a.WorkRequestId, new ArtifactUploadRequest(a.LeaseToken, path, sha, bytes.Length), CancellationToken.None)).Complete);
        }
    }

    /// <summary>Downloads a served file into the scratch directory.</summary>
    public async Task<string> FetchAsync(HttpClient client, string url)
    {
        var bytes = await client.GetByteArrayAsync(url);
        var path = Path.Combine(Scratch, $"{Guid.NewGuid():N}-{Path.GetFileName(url)}");
        await File.WriteAllBytesAsync(path, bytes);
        return path;
    }

    /// <summary>Runs a tool; returns its exit code and output (stdout then stderr).</summary>
    public static async Task<(int ExitCode, string Output)> TryRunAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    public static async Task RunAsync(string tool, params string[] arguments)
    {
        var (code, output) = await TryRunAsync(tool, arguments);
        Assert.True(code == 0, $"{tool} {string.Join(' ', arguments)} exited with {code}: {output}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }
        Directory.Delete(Scratch, recursive: true);
        await Task.CompletedTask;
    }
}
