using Kiln.Contracts;
using Kiln.Store.Repositories;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Repositories;

/// <summary>How a machine uses a repository: its URL, the key's, and the sources.list line or .repo file.</summary>
public static class RepositoryLinks
{
    /// <summary>The server as the caller reached it (behind a trusted proxy: as the proxy was reached).</summary>
    public static string Server(HttpRequest request) => $"{request.Scheme}://{request.Host}{request.PathBase}";

    public static string Url(string server, string project, string suite) =>
        $"{server}/repos/{Uri.EscapeDataString(project)}/{Uri.EscapeDataString(suite)}";

    public static string KeyUrl(string server, string project, string extension = "asc") =>
        $"{server}/repos/{Uri.EscapeDataString(project)}/key.{extension}";

    /// <summary>APT: the sources.list line (the key in /etc/apt/keyrings, named by signed-by=). RPM: a .repo file that checks repomd.xml's signature.</summary>
    public static string SourcesLine(string server, string project, string suite, string format) => format == "apt"
        ? $"deb [signed-by=/etc/apt/keyrings/kiln-{project}.gpg] {Url(server, project, suite)} {suite} main"
        : $"[kiln-{project}-{suite}]\nname=Kiln {project} {suite}\nbaseurl={Url(server, project, suite)}\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=1\ngpgkey={KeyUrl(server, project)}";

    /// <summary>APT: the command that puts the key where <see cref="SourcesLine"/> expects it.</summary>
    public static string? KeySetup(string server, string project, string format) => format == "apt"
        ? $"install -d -m 0755 /etc/apt/keyrings && curl -fsSL {KeyUrl(server, project, "gpg")} -o /etc/apt/keyrings/kiln-{project}.gpg"
        : null;

    public static RepositoryView View(string server, string project, RepositorySummary r) => new(
        project, r.Suite, r.Format, r.Snapshot, r.PublishedAt, r.Packages, Url(server, project, r.Suite), KeyUrl(server, project),
        SourcesLine(server, project, r.Suite, r.Format), KeySetup(server, project, r.Format));
}
