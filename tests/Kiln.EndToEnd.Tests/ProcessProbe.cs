using System.Globalization;

namespace Kiln.EndToEnd.Tests;

/// <summary>Looks at processes a task started, through pid files the task wrote.</summary>
public static class ProcessProbe
{
    public static async Task<int> ReadPidAsync(string file) =>
        int.Parse((await File.ReadAllTextAsync(file)).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Alive means running: gone, or a zombie waiting to be reaped, is dead.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
