using System.CommandLine;
using Kiln.Cli.Commands;

var root = new RootCommand("Kiln: a build farm for software distributions.")
{
    ServerCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
