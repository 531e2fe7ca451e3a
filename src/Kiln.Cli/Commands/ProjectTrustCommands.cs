using System.CommandLine;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln project trust|untrust PROJECT POOL</c>: which worker pools a project trusts with its
/// secrets — a job that names secrets is handed only to workers of those pools (project owners).
/// </summary>
public static class ProjectTrustCommands
{
    public static Command Trust() => Create("trust", true, "Trust a worker pool with the project's secrets: its jobs that name secrets may run there.");

    public static Command Untrust() => Create("untrust", false, "Stop trusting a worker pool with the project's secrets.");

    private static Command Create(string verb, bool trusted, string description)
    {
        var project = new Argument<string>("project") { Description = "Project name" };
        var pool = new Argument<string>("pool") { Description = "Pool name (see kiln pool list)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command(verb, description) { project, pool, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync($"project {verb}", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.SetProjectTrustAsync(parse.GetValue(project)!, parse.GetValue(pool)!, trusted, ct), parse.GetValue(json));
        }));
        return command;
    }
}
