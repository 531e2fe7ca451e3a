using Kiln.Contracts;

namespace Kiln.Server.Web;

/// <summary>What every page's frame shows: who is signed in (null: anonymous), the forms' anti-forgery token, the current section.</summary>
/// <param name="Now">The server's time when the page was made (from its TimeProvider): what running durations count to.</param>
public sealed record Viewer(string? Name, bool IsAdmin, string FormToken, string Section, string Path, DateTimeOffset Now);

/// <param name="Shares">The projects holding slots now, with how many: each project's share of the farm.</param>
public sealed record DashboardModel(
    Viewer Viewer, IReadOnlyList<QueueStatus> Queues, WorkerCounts Workers, IReadOnlyList<WorkflowView> Running,
    IReadOnlyList<WorkflowView> Failures, IReadOnlyList<HeldWorkflowView> Held, IReadOnlyList<string> Notices, IReadOnlyList<(string Project, int Running)> Shares);

/// <param name="Next">The cursor of the next page, if there is one.</param>
/// <param name="Shown">The count shown above the list: exact up to the cap, else "10,000+".</param>
public sealed record WorkflowsModel(Viewer Viewer, Kiln.Store.Engine.WorkflowSearch Search, IReadOnlyList<WorkflowView> Items, string? Next, string? After, string Shown);

/// <summary>One box of the graph picture: a job, or the matrix entries of one job name grouped.</summary>
public sealed record GraphNode(string Name, IReadOnlyList<WorkRequestSummary> Members)
{
    /// <summary>The worst state among its members, for its colour: failed, running, pending, … succeeded.</summary>
    public string State => Members.Select(m => m.State).OrderBy(StateRank).First();

    public static int StateRank(string state) => state switch
    {
        "failed" => 0,
        "cancelled" => 1,
        "running" => 2,
        "pending" => 3,
        "blocked" => 4,
        "skipped" => 5,
        _ => 6,
    };
}

/// <param name="Layers">The graph picture: columns by dependency depth, each a list of nodes.</param>
/// <param name="CanAct">The viewer may cancel or retry it.</param>
public sealed record WorkflowModel(
    Viewer Viewer, WorkflowView Workflow, string? Submitter, string Trigger, IReadOnlyList<IReadOnlyList<GraphNode>> Layers,
    IReadOnlyList<StatusReportView> Reports, bool CanAct, string? Message, string Version)
{
    /// <summary>The workflow is held by the storm guard and the viewer may approve or discard it (an owner or an admin).</summary>
    public bool CanApprove { get; init; }

    /// <summary>Every row of the jobs table (<c>?jobs=all</c>), not only the first 500.</summary>
    public bool ShowAllJobs { get; init; }
}

/// <param name="Attempt">The attempt whose log is shown.</param>
public sealed record JobModel(
    Viewer Viewer, WorkRequestView Job, string Workflow, int Attempt, IReadOnlyList<ArtifactView> Artifacts, string? Explanation, bool CanAct, string? Message, string Version);

public sealed record SignInModel(Viewer Viewer, string? Error, string? ReturnUrl)
{
    /// <summary>The OpenID Connect provider's name when one is configured: a "Sign in with …" button.</summary>
    public string? Oidc { get; init; }
}

public sealed record MessageModel(Viewer Viewer, string Title, string Text);

public sealed record ProjectsModel(Viewer Viewer, IReadOnlyList<ProjectView> Items, string? Next);

public sealed record ProjectModel(
    Viewer Viewer, ProjectView Project, IReadOnlyList<WorkflowView> Recent, IReadOnlyList<HeldWorkflowView> Held,
    IReadOnlyList<MemberView> Members, IReadOnlyList<RepositoryView> Repositories);

/// <summary>The admin page: the audit log's newest entries (page by <paramref name="Next"/>), notices, the admin's own tokens, farm policy as configured.</summary>
public sealed record AdminModel(
    Viewer Viewer, IReadOnlyList<AuditEntryView> Audit, string? Next, IReadOnlyList<NoticeView> Notices, IReadOnlyList<NoticeView> Upcoming,
    IReadOnlyList<TokenView> Tokens, IReadOnlyList<(string Setting, string Value)> Policy);

public sealed record EventsModel(Viewer Viewer, string? Source, string? State, IReadOnlyList<EventSummary> Items, string? Next);

public sealed record EventModel(Viewer Viewer, EventView Event);

/// <param name="CanOperate">The viewer is a farm admin: approve, disable and enable buttons.</param>
public sealed record WorkersModel(Viewer Viewer, IReadOnlyList<WorkerView> Items, string? Next, bool CanOperate, string? Message);
