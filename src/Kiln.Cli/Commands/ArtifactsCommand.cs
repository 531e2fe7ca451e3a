using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln artifacts REF [--download DIR]</c>: a job's artifacts, listed or fetched.</summary>
public static class ArtifactsCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("ref") { Description = JobReference.Help };
        var attempt = new Option<int?>("--attempt", "-a") { Description = "Which attempt (default: the latest)" };
        var download = new Option<string?>("--download", "-d") { Description = "Download every artifact into this directory (resumes partial files)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("artifacts", "List or download a job's artifacts.") { target, attempt, download, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("artifacts", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var id = await JobReference.Parse(parse.GetValue(target)!).WorkRequestIdAsync(client, ct);
            var list = await client.ListArtifactsAsync(id, parse.GetValue(attempt), ct);
            if (parse.GetValue(download) is { } directory)
            {
                foreach (var artifact in list.Items)
                {
                    var path = await client.DownloadArtifactIntoAsync(id, list.Attempt, artifact, directory, ct);
                    if (!parse.GetValue(json))
                    {
                        Console.Out.WriteLine($"{path} ({Views.Bytes(artifact.Size)})");
                    }
                }
            }
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(list);
            }
            else if (parse.GetValue(download) is null)
            {
                var table = new Table().Border(TableBorder.Rounded).Title($"work request {id}, attempt {list.Attempt}").AddColumns("path", "size", "sha256");
                foreach (var a in list.Items)
                {
                    table.AddRow(Markup.Escape(a.Path), Views.Bytes(a.Size), a.Sha256[..16] + "…");
                }
                AnsiConsole.Write(table);
            }
            return 0;
        }));
        return command;
    }
}
