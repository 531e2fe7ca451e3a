namespace Kiln.Store.Database;

/// <summary>Finds the PostgreSQL server binaries (initdb, pg_ctl) of this machine.</summary>
public static class PostgresBinaries
{
    public const string InstallHint =
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them " +
        "(Debian/Ubuntu: 'apt-get install postgresql'; Fedora: 'dnf install postgresql-server'), " +
        "set KILN_PG_BIN to their directory, or point Kiln at an existing server with KILN_DATABASE_URL / --database.";

    /// <summary>The directory holding initdb and pg_ctl; prefers KILN_PG_BIN, then the newest Debian layout, then PATH.</summary>
    public static string Find()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("KILN_PG_BIN") is { Length: > 0 } explicitBin)
        {
            candidates.Add(explicitBin);
        }
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir, "bin")));
        }
        candidates.AddRange(Directory.GetDirectories("/usr", "pgsql-*").Select(d => Path.Combine(d, "bin")));
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));
        foreach (var dir in candidates)
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")))
            {
                // PATH entries are often symlinks; resolve so that pg_ctl finds its postgres.
                var initdb = new FileInfo(Path.Combine(dir, "initdb"));
                return initdb.LinkTarget is { } target
                    ? Path.GetDirectoryName(Path.GetFullPath(target, dir))!
                    : dir;
            }
        }
        throw new ManagedPostgresException(InstallHint);
    }
}
