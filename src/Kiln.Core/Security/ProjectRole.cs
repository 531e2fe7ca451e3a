namespace Kiln.Core.Security;

/// <summary>
/// A user's role in one project, each including the ones before it: <c>viewer</c> reads a
/// private project; <c>contributor</c> submits and cancels or retries its own work;
/// <c>maintainer</c> cancels, retries and re-prioritises any of the project's work; <c>owner</c>
/// manages members and the project's own settings (description, visibility, secrets, trusted
/// pools). Farm policy (weights, base priority, caps, queues, workers) is a farm admin's.
/// </summary>
public enum ProjectRole
{
    None = 0,
    Viewer = 1,
    Contributor = 2,
    Maintainer = 3,
    Owner = 4,
}

public static class ProjectRoles
{
    public static readonly IReadOnlyList<string> Names = ["viewer", "contributor", "maintainer", "owner"];

    public static ProjectRole? Parse(string? name) => name switch
    {
        "viewer" => ProjectRole.Viewer,
        "contributor" => ProjectRole.Contributor,
        "maintainer" => ProjectRole.Maintainer,
        "owner" => ProjectRole.Owner,
        _ => null,
    };

    public static string Name(ProjectRole role) => role switch
    {
        ProjectRole.Viewer => "viewer",
        ProjectRole.Contributor => "contributor",
        ProjectRole.Maintainer => "maintainer",
        ProjectRole.Owner => "owner",
        _ => "none",
    };
}
