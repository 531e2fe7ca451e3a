using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln build X.dsc | X.src.rpm | --git URL [--ref REF]</c>: checks the source package locally,
/// uploads what the server does not hold yet (with a progress bar in a terminal), and submits the
/// project's package pipeline.
/// </summary>
public static class BuildCommand
{
    /// <summary>Files smaller than this are uploaded without a progress bar.</summary>
    private const long ProgressThreshold = 8L * 1024 * 1024;

    public static Command Create()
    {
        var source = new Argument<string?>("source") { Description = "A .dsc (the files it lists beside it) or a .src.rpm", Arity = ArgumentArity.ZeroOrOne };
        var project = new Option<string?>("--project") { Description = "Project to build in (default: default)" };
        var suite = new Option<string?>("--suite") { Description = "Suite to build for and publish to (default bookworm; fedora-41 for RPM)" };
        var arch = new Option<string?>("--arch") { Description = "Architectures, comma-separated (default amd64)" };
        var environment = new Option<string?>("--environment") { Description = "Environment of the build jobs instead of debian/SUITE-ARCH (may contain ${{ matrix.arch }})" };
        var noLintian = new Option<bool>("--no-lintian") { Description = "Do not run lintian" };
        var autopkgtest = new Option<bool>("--autopkgtest") { Description = "Run autopkgtest on each architecture" };
        var git = new Option<string?>("--git") { Description = "Build a packaging repository instead of a file" };
        var gitRef = new Option<string?>("--ref") { Description = "Branch, tag or commit of --git (default HEAD)" };
        var format = new Option<string?>("--format") { Description = "With --git: deb (default) or rpm" };
        var watch = new Option<bool>("--watch", "-w") { Description = "Follow the workflow until it finishes; exit code 0 only if it succeeded" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("build", "Build a source package with the project's pipeline (source, build, lintian, publish).")
        {
            source, project, suite, arch, environment, noLintian, autopkgtest, git, gitRef, format, watch, server, json,
        };
        command.SetAction((parse, ct) => CliRun.GuardAsync("build", parse.GetValue(server), async url =>
        {
            var path = parse.GetValue(source);
            var repository = parse.GetValue(git);
            if ((path is null) == (repository is null))
            {
                throw new CliException("give a .dsc or .src.rpm, or --git URL (not both)", UsageErrors.ExitCode);
            }
            if (repository is null && (parse.GetValue(gitRef) ?? parse.GetValue(format)) is not null)
            {
                throw new CliException("--ref and --format go with --git", UsageErrors.ExitCode);
            }
            var asJson = parse.GetValue(json);
            var options = new SourceBuildOptions
            {
                Suite = parse.GetValue(suite),
                Architectures = parse.GetValue(arch)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(),
                Environment = parse.GetValue(environment),
                Lintian = parse.GetValue(noLintian) ? false : null,
                Autopkgtest = parse.GetValue(autopkgtest) ? true : null,
            };
            var name = parse.GetValue(project) ?? Core.Names.DefaultProject;
            using var client = ClientSettings.Connect(url);
            SubmitSourceRequest request;
            if (repository is not null)
            {
                request = new SubmitSourceRequest { Git = repository, Ref = parse.GetValue(gitRef), Format = parse.GetValue(format), Options = options };
            }
            else
            {
                var local = await LocalSource.LoadAsync(path!, ct);
                await UploadAsync(client, name, local, asJson, ct);
                request = new SubmitSourceRequest { Files = [.. local.Files.Select(f => f.File)], Options = options };
            }
            var answer = await client.SubmitSourceAsync(name, request, ct);
            if (asJson && !parse.GetValue(watch))
            {
                CliRun.PrintJson(answer);
                return 0;
            }
            if (!asJson)
            {
                var what = answer.UploadId is { } id ? $"{Markup.Escape($"{answer.Package} {answer.Version}")} (upload [bold]{id}[/])" : Markup.Escape(repository!);
                Views.Line(answer.Created
                    ? $"Building {what}: workflow [bold]{answer.WorkflowId}[/] ({answer.WorkRequests} work requests). Follow it: [bold]kiln watch {answer.WorkflowId}[/]"
                    : $"{what} was submitted before: workflow [bold]{answer.WorkflowId}[/]. Follow it: [bold]kiln watch {answer.WorkflowId}[/]");
            }
            if (!parse.GetValue(watch))
            {
                return 0;
            }
            var views = await WorkflowWatcher.WatchAsync(client, [answer.WorkflowId], asJson, TimeProvider.System, ct);
            return WorkflowWatcher.ExitCode(views);
        }));
        return command;
    }

    /// <summary>Sends each file the server does not hold yet, resuming where it left off; a progress bar for large files in a terminal.</summary>
    private static async Task UploadAsync(KilnClient client, string project, LocalSource local, bool asJson, CancellationToken ct)
    {
        var total = local.Files.Sum(f => f.File.Size);
        if (!asJson && total >= ProgressThreshold && AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
        {
            await AnsiConsole.Progress().AutoClear(false).Columns(
                    new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async progress =>
                {
                    foreach (var (path, file) in local.Files)
                    {
                        var task = progress.AddTask(Markup.Escape(file.Name), maxValue: Math.Max(1, file.Size));
                        await UploadFileAsync(client, project, path, file, held => task.Value = held, ct);
                        task.Value = task.MaxValue;
                    }
                });
            return;
        }
        foreach (var (path, file) in local.Files)
        {
            await UploadFileAsync(client, project, path, file, _ => { }, ct);
        }
    }

    private static async Task UploadFileAsync(KilnClient client, string project, string path, SourceFileRef file, Action<long> progress, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        // A zero-length chunk asks what the server holds: content stored already is not sent again.
        var answer = await client.UploadSourceContentAsync(project, file.Sha256, file.Size, 0, Stream.Null, 0, ct);
        while (!answer.Complete)
        {
            var offset = answer.Held;
            var length = Math.Min(KilnClient.SourceChunkBytes, file.Size - offset);
            stream.Seek(offset, SeekOrigin.Begin);
            answer = await client.UploadSourceContentAsync(project, file.Sha256, file.Size, offset, stream, length, ct);
            progress(answer.Held);
            if (!answer.Complete && answer.Held <= offset)
            {
                throw new CliException($"{file.Name}: the server stopped accepting bytes at {answer.Held} of {file.Size}");
            }
        }
    }
}
