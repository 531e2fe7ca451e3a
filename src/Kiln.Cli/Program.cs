using System.CommandLine;
using Kiln.Cli.Commands;

var root = new RootCommand("Kiln: a build farm for software distributions.")
{
    ServerCommand.Create(),
    UpCommand.Create(),
    WorkerCommand.Create(),
    SubmitCommand.Create(),
    BuildCommand.Create(),
    RebuildCommand.Create(),
    WatchCommand.Create(),
    ShowCommand.Create(),
    ListCommand.Create(),
    LogsCommand.Create(),
    GraphActionCommands.Cancel(),
    GraphActionCommands.Retry(),
    HeldCommand.Create(),
    StatusReportsCommand.Create(),
    ForgeAppCommand.Create(),
    ArtifactsCommand.Create(),
    WorkersCommand.Create(),
    PoolCommand.Create(),
    StatusCommand.Create(),
    ExplainCommand.Create(),
    ProjectCommand.Create(),
    PriorityCommand.Create(),
    NoticeCommand.Create(),
    LoginCommands.Login(),
    LoginCommands.Logout(),
    LoginCommands.WhoAmI(),
    TokenCommand.Create(),
    UserCommand.Create(),
    AuditCommand.Create(),
    SecretCommand.Create(),
    TriggerCommand.Create(),
    EventsCommand.Create(),
    EnvCommand.Create(),
    ReposCommand.Create(),
    RepoCommand.Create(),
    HooksCommand.Create(),
    CompletionCommand.Create(),
};
// Signals are handled by the commands that need them (worker: drain on SIGTERM; up: stop
// workers before the server); the server's host handles its own. No forced exit after Ctrl-C.
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    return UsageErrors.Report(parse);
}
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
