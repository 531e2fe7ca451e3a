namespace Kiln.Cli.Commands;

/// <summary>A user error: printed as one line, exit code <see cref="ExitCode"/>.</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
