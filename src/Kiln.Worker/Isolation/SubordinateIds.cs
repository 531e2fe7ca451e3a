using System.Globalization;

namespace Kiln.Worker.Isolation;

/// <summary>
/// The unprivileged host id range a job's user namespace maps onto (its root is host id <see cref="Start"/>):
/// the worker user's first range in <c>/etc/subuid</c> and <c>/etc/subgid</c> (<c>root:100000:65536</c>).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed record SubordinateIds(int Start, int Count)
{
    /// <summary>The range for the user running the worker, or null (with why) when /etc/subuid and /etc/subgid give none or disagree.</summary>
    public static (SubordinateIds? Ids, string? Problem) ForCurrentUser()
    {
        var user = Environment.UserName;
        var uid = Environment.IsPrivilegedProcess ? "0" : null;
        var users = Read("/etc/subuid", user, uid);
        var groups = Read("/etc/subgid", user, uid);
        if (users is null || groups is null)
        {
            return (null, $"no subordinate ids for user '{user}' in /etc/subuid and /etc/subgid (add e.g. '{user}:100000:65536' to both; docs/worker.md)");
        }
        if (users != groups)
        {
            return (null, $"/etc/subuid and /etc/subgid give '{user}' different ranges; give both the same (docs/worker.md)");
        }
        return users.Count < 65536
            ? (null, $"the subordinate id range of '{user}' has {users.Count} ids; an environment needs 65536")
            : (users with { Count = 65536 }, null);
    }

    /// <summary>util-linux <c>unshare</c> arguments entering a user namespace as its root, mapped onto this range.</summary>
    public IReadOnlyList<string> UnshareArguments() =>
    [
        "--user",
        $"--map-users={Start},0,{Count}",
        $"--map-groups={Start},0,{Count}",
        "--setuid", "0", "--setgid", "0",
    ];

    private static SubordinateIds? Read(string file, string user, string? uid)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        foreach (var line in File.ReadLines(file))
        {
            var parts = line.Split(':');
            if (parts.Length == 3 && (parts[0] == user || parts[0] == uid)
                && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var start) && int.TryParse(parts[2], CultureInfo.InvariantCulture, out var count)
                && start > 0 && count > 0)
            {
                return new SubordinateIds(start, count);
            }
        }
        return null;
    }
}
