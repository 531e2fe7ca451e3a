using System.Diagnostics;
using System.Text;

namespace Kiln.Server.Repositories;

/// <summary>
/// Runs the host tools a publish needs (dpkg-deb, gpg, createrepo_c) as child processes: an argument
/// list (never a shell), an explicit environment (never the server's), a timeout after which the
/// process tree is killed, and output kept to a bounded size for the error message.
/// </summary>
public static class ToolRunner
{
    private const int MaxOutputChars = 1024 * 1024;

    /// <summary>The result of a tool: its exit code and what it wrote.</summary>
    public sealed record ToolResult(int ExitCode, string Output, string Error);

    public static async Task<ToolResult> RunAsync(string tool, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken ct,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        start.Environment["LC_ALL"] = "C.UTF-8";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ToolMissingException($"'{tool}' could not be started ({e.Message}); the server host needs it (docs/operations.md, \"Repositories\")");
        }
        process.StandardInput.Close();
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(timeout);
        var output = ReadBoundedAsync(process.StandardOutput);
        var error = ReadBoundedAsync(process.StandardError);
        try
        {
            await process.WaitForExitAsync(timeoutCts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            ct.ThrowIfCancellationRequested();
            throw new TimeoutException($"'{tool}' did not finish within {timeout.TotalSeconds:0} s and was killed");
        }
        return new ToolResult(process.ExitCode, await output, await error);
    }

    /// <summary>Runs the tool and returns its standard output; a non-zero exit is a <see cref="ToolFailedException"/> with its error output.</summary>
    public static async Task<string> CheckedAsync(string tool, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken ct,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var result = await RunAsync(tool, arguments, timeout, ct, environment, workingDirectory);
        if (result.ExitCode != 0)
        {
            var said = result.Error.Trim();
            throw new ToolFailedException($"{tool} exited with {result.ExitCode}: {(said.Length > 500 ? said[..500] : said)}");
        }
        return result.Output;
    }

    private static async Task<string> ReadBoundedAsync(StreamReader reader)
    {
        var text = new StringBuilder();
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            if (text.Length < MaxOutputChars)
            {
                text.Append(buffer, 0, Math.Min(read, MaxOutputChars - text.Length));
            }
        }
        return text.ToString();
    }
}

/// <summary>A host tool ended with an error.</summary>
public sealed class ToolFailedException(string message) : Exception(message);

/// <summary>A host tool is not installed.</summary>
public sealed class ToolMissingException(string message) : Exception(message);
