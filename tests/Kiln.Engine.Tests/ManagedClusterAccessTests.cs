using System.Diagnostics;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// The managed cluster trusts connections on its socket, so nobody but the cluster's user (and
/// root) may reach the socket. Tests run as root; the cluster runs as <c>postgres</c>.
/// </summary>
public sealed class ManagedClusterAccessTests
{
    [Fact]
    public async Task Another_local_user_cannot_connect_to_the_managed_cluster()
    {
        Assert.Equal("root", Environment.UserName);
        var cluster = await TestCluster.GetAsync();
        var psql = Path.Combine(cluster.BinDirectory, "psql");
        string[] connect = [psql, "-h", cluster.SocketDirectory, "-U", "kiln", "-d", "postgres", "-w", "-tAc", "SELECT 'connected'"];

        // The same command as the cluster's own user works: what is refused below is the user, not the command.
        var owner = await RunAsync(["runuser", "-u", "postgres", "--", .. connect]);
        Assert.True(owner.ExitCode == 0, owner.Output);
        Assert.Contains("connected", owner.Output, StringComparison.Ordinal);

        var other = await RunAsync(["runuser", "-u", "nobody", "--", .. connect]);
        Assert.NotEqual(0, other.ExitCode);
        Assert.DoesNotContain("connected", other.Output, StringComparison.Ordinal);
        Assert.Contains("Permission denied", other.Output, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string[] command)
    {
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var a in command[1..])
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
