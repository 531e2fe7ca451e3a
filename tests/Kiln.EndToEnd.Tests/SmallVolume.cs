using System.Diagnostics;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A real, small filesystem (tmpfs) mounted over a directory, to make writes there hit ENOSPC for
/// real. Needs root (tests run as root); unmounted on dispose. <see cref="Fill"/> uses up every
/// free byte, <see cref="Free"/> gives it back.
/// </summary>
public sealed class SmallVolume : IDisposable
{
    private const string FillerName = ".filler";

    private SmallVolume(string path) => Path = path;

    public string Path { get; }

    public static SmallVolume Mount(string path, int kibibytes = 1024)
    {
        Directory.CreateDirectory(path);
        Run("mount", "-t", "tmpfs", "-o", $"size={kibibytes}k,mode=0755", "kiln-test-small", path);
        return new SmallVolume(path);
    }

    /// <summary>Writes a filler file until the filesystem refuses with "no space left".</summary>
    public void Fill()
    {
        using var filler = new FileStream(System.IO.Path.Combine(Path, FillerName), FileMode.Append, FileAccess.Write, FileShare.None, 1);
        var block = new byte[4096];
        try
        {
            while (true)
            {
                filler.Write(block);
            }
        }
        catch (IOException)
        {
            // Full.
        }
    }

    public void Free() => File.Delete(System.IO.Path.Combine(Path, FillerName));

    public void Dispose() => Run("umount", "-l", Path);

    private static void Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {error}");
        }
    }
}
