using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln env create|list|show|refresh|import</c>: the named root filesystems jobs run in
/// (<c>environment: debian/bookworm-amd64</c>). Kiln builds them with mmdebstrap as a job; an admin
/// can also import a tarball built elsewhere (a Fedora root made with mock or dnf --installroot).
/// </summary>
public static class EnvCommand
{
    public static Command Create()
    {
        var command = new Command("env", "Build environments: the clean root filesystems jobs run in (see docs/packaging.md).");
        command.Subcommands.Add(CreateEnv());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Refresh());
        command.Subcommands.Add(Import());
        return command;
    }

    private static Argument<string> NameArgument() => new("name") { Description = "DISTRIBUTION/NAME, e.g. debian/bookworm-amd64" };

    private static Option<bool> WaitOption() => new("--wait") { Description = "Wait until the build finishes and the version is recorded" };

    private static Command CreateEnv()
    {
        var name = NameArgument();
        var suite = new Option<string>("--suite") { Description = "Suite to bootstrap (e.g. bookworm)", Required = true };
        var arch = new Option<string>("--arch") { Description = "Architecture (default amd64)", DefaultValueFactory = _ => "amd64" };
        var mirror = new Option<string?>("--mirror") { Description = "Mirror (default http://deb.debian.org/debian)" };
        var variant = new Option<string?>("--variant") { Description = "mmdebstrap variant (default buildd; essential, minbase, apt, …)" };
        var packages = new Option<string[]>("--packages") { Description = "Extra packages, comma-separated or repeated", AllowMultipleArgumentsPerToken = true };
        var refresh = new Option<int?>("--refresh-hours") { Description = "Rebuild it this often (hours, at least 1); default: only on kiln env refresh" };
        var wait = WaitOption();
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("create", "Define an environment Kiln builds with mmdebstrap and build its first version (admins).")
        {
            name, suite, arch, mirror, variant, packages, refresh, wait, server, json,
        };
        command.SetAction((parse, ct) => CliRun.GuardAsync("env create", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var list = (parse.GetValue(packages) ?? []).SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            var answer = await client.CreateEnvironmentAsync(new CreateEnvironmentRequest(parse.GetValue(name)!, parse.GetValue(suite)!, parse.GetValue(arch)!,
                parse.GetValue(mirror), parse.GetValue(variant), list.Count > 0 ? list : null, parse.GetValue(refresh)), ct);
            return await AfterBuildAsync(client, answer, parse.GetValue(wait), parse.GetValue(json), ct);
        }));
        return command;
    }

    private static Command Refresh()
    {
        var name = NameArgument();
        var wait = WaitOption();
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("refresh", "Build the environment's next version now; jobs submitted after it finishes get it (admins).") { name, wait, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("env refresh", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var answer = await client.RefreshEnvironmentAsync(parse.GetValue(name)!, ct);
            return await AfterBuildAsync(client, answer, parse.GetValue(wait), parse.GetValue(json), ct);
        }));
        return command;
    }

    private static async Task<int> AfterBuildAsync(KilnClient client, EnvironmentBuildResponse answer, bool wait, bool json, CancellationToken ct)
    {
        var environment = answer.Environment;
        if (answer.WorkflowId is { } workflow && wait)
        {
            var before = environment.Current?.Version ?? 0;
            var started = TimeProvider.System.GetTimestamp();
            if (!json)
            {
                Console.Error.WriteLine($"Building {environment.Name} in workflow {workflow} (kiln logs {workflow} build shows mmdebstrap's output)…");
            }
            while (true)
            {
                var state = (await client.GetWorkflowAsync(workflow, ct)).State;
                environment = (await client.GetEnvironmentAsync(environment.Name, ct)).Environment;
                if ((environment.Current?.Version ?? 0) > before)
                {
                    break;
                }
                if (state is "failed" or "cancelled")
                {
                    throw new CliException($"the build of {environment.Name} {state}; see kiln show {workflow} and kiln logs {workflow} build");
                }
                await Task.Delay(TimeSpan.FromSeconds(2), ct);
            }
            if (!json)
            {
                Console.Error.WriteLine($"Built {environment.Name} version {environment.Current!.Version} in {TimeProvider.System.GetElapsedTime(started).TotalSeconds:F0} s.");
            }
        }
        if (json)
        {
            CliRun.PrintJson(answer with { Environment = environment });
            return 0;
        }
        PrintOne(environment);
        if (answer.WorkflowId is { } id && !wait)
        {
            Console.Out.WriteLine($"Building in workflow {id}: follow it with kiln watch {id}; kiln env show {environment.Name} lists the versions.");
        }
        else if (answer.WorkflowId is null && environment.BuildingWorkflowId is { } running)
        {
            Console.Out.WriteLine($"A build is running already: workflow {running}.");
        }
        return 0;
    }

    private static Command List()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "Every environment with its current version.") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("env list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var list = await client.ListEnvironmentsAsync(ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(list.Items);
                return 0;
            }
            if (list.Items.Count == 0)
            {
                Console.Out.WriteLine("No environments yet. Make one: kiln env create debian/bookworm-amd64 --suite bookworm --arch amd64");
                return 0;
            }
            var table = new Table().AddColumns("NAME", "VERSION", "SIZE", "BUILT", "SUITE", "ARCH", "BUILDER", "BUILDING");
            foreach (var e in list.Items)
            {
                table.AddRow(Markup.Escape(e.Name), e.Current?.Version.ToString(CultureInfo.InvariantCulture) ?? "-", e.Current is { } c ? Size(c.Size) : "-",
                    e.Current?.CreatedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) ?? "-", Markup.Escape(e.Suite ?? "-"),
                    Markup.Escape(e.Architecture ?? "-"), e.Builder, e.BuildingWorkflowId is { } w ? $"workflow {w}" : "");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var name = NameArgument();
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("show", "An environment, how it is made, and its versions.") { name, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("env show", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var detail = await client.GetEnvironmentAsync(parse.GetValue(name)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(detail);
                return 0;
            }
            PrintOne(detail.Environment);
            var table = new Table().AddColumns("VERSION", "SHA-256", "SIZE", "CREATED", "FROM");
            foreach (var v in detail.Versions)
            {
                table.AddRow(v.Version.ToString(CultureInfo.InvariantCulture), v.Sha256, Size(v.Size),
                    v.CreatedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), v.WorkRequestId is { } w ? $"work request {w}" : "imported");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Import()
    {
        var name = NameArgument();
        var file = new Argument<FileInfo>("tarball") { Description = "A root filesystem as .tar.zst (or .tar.gz, .tar.xz, .tar), owned by root inside" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("import", "Upload a root filesystem tarball as the next version of an imported environment (admins).") { name, file, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("env import", parse.GetValue(server), async url =>
        {
            var path = parse.GetValue(file)!;
            if (!path.Exists)
            {
                throw new CliException($"{path.FullName} does not exist");
            }
            using var client = ClientSettings.Connect(url);
            var envName = parse.GetValue(name)!;
            EnvironmentDetail? existing = null;
            try
            {
                existing = await client.GetEnvironmentAsync(envName, ct);
            }
            catch (KilnApiException e) when (e.Status == System.Net.HttpStatusCode.NotFound)
            {
                // a new imported environment
            }
            if (existing is { Environment.Builder: not "imported" })
            {
                // refused before uploading anything
                throw new CliException($"environment {envName} is built by Kiln (kiln env refresh {envName}); import into a new name");
            }
            await using var stream = path.OpenRead();
            var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
            var size = stream.Length;
            long offset = 0;
            const int chunk = 4 * 1024 * 1024;
            var interactive = !parse.GetValue(json) && !Console.IsErrorRedirected;
            while (true)
            {
                stream.Seek(offset, SeekOrigin.Begin);
                var length = Math.Min(chunk, size - offset);
                var answer = await client.UploadEnvironmentAsync(envName, sha, size, offset, stream, length, ct);
                offset = answer.UploadOffset;
                if (interactive)
                {
                    Console.Error.Write($"\ruploading {path.Name}: {Size(offset)} of {Size(size)} ({(size == 0 ? 100 : offset * 100 / size)}%)");
                }
                if (answer.Complete || offset >= size)
                {
                    break;
                }
            }
            if (interactive)
            {
                Console.Error.WriteLine();
            }
            var detail = await client.ImportEnvironmentAsync(envName, new ImportEnvironmentRequest(sha, size), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(detail);
                return 0;
            }
            PrintOne(detail.Environment);
            Console.Out.WriteLine($"Jobs naming 'environment: {envName}' now get version {detail.Environment.Current!.Version}.");
            return 0;
        }));
        return command;
    }

    private static void PrintOne(EnvironmentView e)
    {
        Console.Out.WriteLine($"{e.Name}: {(e.Current is { } c ? $"version {c.Version}, {Size(c.Size)}, sha256 {c.Sha256}" : "no version yet")}");
        if (e.Builder == "mmdebstrap")
        {
            Console.Out.WriteLine($"  mmdebstrap --variant={e.Variant} --architectures={e.Architecture}{(e.Packages.Count > 0 ? " --include=" + string.Join(',', e.Packages) : "")} {e.Suite} {e.Mirror}");
            Console.Out.WriteLine($"  refresh: {(e.RefreshHours is { } h ? $"every {h} h" : "on demand (kiln env refresh)")}");
        }
        else
        {
            Console.Out.WriteLine("  imported (kiln env import adds versions)");
        }
    }

    private static string Size(long bytes) => bytes >= 1 << 30 ? $"{bytes / (double)(1 << 30):F1} GiB"
        : bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):F1} MiB" : $"{bytes / 1024.0:F0} KiB";
}
