using Kiln.Contracts;
using Kiln.Core;

namespace Kiln.Core.Tests;

/// <summary>Small builders and assertions shared by the planner tests.</summary>
internal static class Planning
{
    public static WorkflowDocument Workflow(params (string Name, JobDocument Job)[] jobs) =>
        new() { Jobs = jobs.ToDictionary(j => j.Name, j => j.Job) };

    public static JobDocument Job(params string[] needs) =>
        new() { Run = "make", Needs = needs.Length == 0 ? null : [.. needs] };

    /// <summary>Plans the document and fails with the planner's own errors if there is no plan.</summary>
    public static WorkflowPlan Accept(WorkflowDocument doc, WorkflowLimits? limits = null)
    {
        var (plan, errors) = new WorkflowPlanner(limits ?? WorkflowLimits.Default).Plan(doc);
        Assert.True(errors.Count == 0, "expected a plan, got errors: " + string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")));
        Assert.NotNull(plan);
        return plan;
    }

    /// <summary>Plans the document and expects errors and no plan.</summary>
    public static IReadOnlyList<ValidationError> Reject(WorkflowDocument? doc, WorkflowLimits? limits = null)
    {
        var (plan, errors) = new WorkflowPlanner(limits ?? WorkflowLimits.Default).Plan(doc);
        Assert.Null(plan);
        Assert.NotEmpty(errors);
        return errors;
    }

    /// <summary>Asserts that one of the errors is about <paramref name="field"/> and returns it.</summary>
    public static ValidationError ErrorOn(IReadOnlyList<ValidationError> errors, string field)
    {
        var match = errors.FirstOrDefault(e => e.Field == field);
        Assert.True(match is not null, $"expected an error on '{field}', got: " + string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")));
        return match;
    }

    public static PlannedWorkRequest Request(WorkflowPlan plan, string name) => plan.WorkRequests.Single(w => w.Name == name);

    /// <summary>The names of the work requests <paramref name="name"/> needs, in plan order.</summary>
    public static IEnumerable<string> NeedNames(WorkflowPlan plan, string name) =>
        Request(plan, name).Needs.Select(i => plan.WorkRequests[i].Name);
}
