using Kiln.Core;
using Kiln.Store.Identity;
using Kiln.Store.Secrets;

namespace Kiln.Server.Security;

/// <summary>
/// At submission, after access is decided: a job naming a secret its project does not have is
/// refused then (<c>jobs.JOB.secrets</c>), so a typo shows at once rather than when the job runs.
/// Only the project's own secrets count: a job cannot name another project's.
/// </summary>
public sealed class SecretSubmissionCheck(AccessStore projects, SecretStore secrets)
{
    public async Task<IReadOnlyList<ValidationError>> MissingAsync(WorkflowPlan plan, CancellationToken ct)
    {
        var named = plan.WorkRequests.SelectMany(w => w.Secrets).ToHashSet(StringComparer.Ordinal);
        if (named.Count == 0)
        {
            return [];
        }
        var project = await projects.OfProjectAsync(plan.Project, ct);
        var missing = project is null ? named : (await secrets.MissingAsync(project.ProjectId, named, ct)).ToHashSet(StringComparer.Ordinal);
        if (missing.Count == 0)
        {
            return [];
        }
        return plan.WorkRequests
            .SelectMany(w => w.Secrets.Where(missing.Contains).Select(s => (w.JobName, Secret: s)))
            .Distinct()
            .Select(m => new ValidationError($"jobs.{m.JobName}.secrets",
                $"project '{plan.Project}' has no secret '{m.Secret}'; its owner sets it with: kiln secret set {plan.Project} {m.Secret}"))
            .ToList();
    }
}
