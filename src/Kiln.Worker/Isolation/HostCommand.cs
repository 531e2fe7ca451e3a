using System.Diagnostics;

namespace Kiln.Worker.Isolation;

/// <summary>A short host command the worker runs for itself (tar, mount, mkfs), its output kept for the error message.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal static class HostCommand
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="arguments"/>, environment cleared to a plain PATH; returns exit code and combined output.</summary>
    public static (int ExitCode, string Output) Run(string file, IEnumerable<string> arguments)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }
        psi.Environment.Clear();
        psi.Environment["PATH"] = IsolatedLaunch.Path;
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"{file} did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var output = stdout + stderr.GetAwaiter().GetResult();
        return (process.ExitCode, output.Length > 2000 ? output[..2000] : output);
    }

    /// <summary>Like <see cref="Run"/>, throwing with the output when it fails.</summary>
    public static void Check(string file, params string[] arguments)
    {
        var (code, output) = Run(file, arguments);
        if (code != 0)
        {
            throw new IOException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} failed (exit {code}): {output.Trim()}");
        }
    }
}
