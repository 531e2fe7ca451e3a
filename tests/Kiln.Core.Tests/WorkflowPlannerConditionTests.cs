using Kiln.Contracts;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary><c>if:</c> on jobs: evaluated at submission, per matrix entry; omitted entries pass their needs on.</summary>
public sealed class WorkflowPlannerConditionTests
{
    private static WorkflowDocument Pipeline(string publishIf, string trigger = "push", string? branch = "main") => new()
    {
        Trigger = trigger,
        Branch = branch,
        Jobs = new()
        {
            ["build"] = Job(),
            ["publish"] = Job("build") with { If = publishIf },
        },
    };

    [Fact]
    public void A_job_whose_condition_is_false_is_not_created_and_is_reported_as_omitted()
    {
        var plan = Accept(Pipeline("branch == 'main' && trigger != 'pull-request'", trigger: "pull-request"));

        Assert.Equal(["build"], plan.WorkRequests.Select(w => w.Name));
        Assert.Equal(["publish"], plan.Omitted);
    }

    [Fact]
    public void A_job_whose_condition_is_true_is_created()
    {
        var plan = Accept(Pipeline("${{ branch == 'main' }}"));
        Assert.Equal(["build", "publish"], plan.WorkRequests.Select(w => w.Name));
        Assert.Empty(plan.Omitted);
    }

    [Fact]
    public void The_condition_is_evaluated_per_matrix_entry()
    {
        var job = new JobDocument { Run = "lintian", If = "matrix.suite != 'sid'", Matrix = new() { ["suite"] = ["bookworm", "sid"] } };

        var plan = Accept(Workflow(("lint", job)));

        Assert.Equal(["lint[bookworm]"], plan.WorkRequests.Select(w => w.Name));
        Assert.Equal(["lint[sid]"], plan.Omitted);
    }

    [Fact]
    public void Dependents_of_an_omitted_job_wait_for_what_it_would_have_waited_for()
    {
        var doc = Workflow(("build", Job()), ("lint", Job("build") with { If = "false" }), ("publish", Job("lint")));

        var plan = Accept(doc);

        Assert.Equal(["build"], NeedNames(plan, "publish"));
    }

    [Fact]
    public void Parameters_can_decide_a_condition()
    {
        var doc = new WorkflowDocument
        {
            Parameters = new() { ["suite"] = new ParameterDocument { Default = "bookworm" } },
            Params = new() { ["suite"] = "sid" },
            Jobs = new() { ["build"] = Job(), ["backport"] = Job("build") with { If = "params.suite in ['bookworm', 'trixie']" } },
        };
        Assert.Equal(["backport"], Accept(doc).Omitted);
    }

    [Fact]
    public void A_parse_error_names_the_job_and_the_column()
    {
        var error = ErrorOn(Reject(Pipeline("branch == 'main' &&& true")), "jobs.publish.if");
        Assert.StartsWith("column 20:", error.Message);
        var wrapped = ErrorOn(Reject(Pipeline("${{ branch = 'main' }}")), "jobs.publish.if");
        Assert.StartsWith("column 12:", wrapped.Message);
    }

    [Fact]
    public void An_omitted_job_is_still_validated()
    {
        ErrorOn(Reject(Pipeline("false") with { Jobs = new() { ["a"] = Job() with { If = "false", Timeout = -1 }, ["b"] = Job() } }), "jobs.a.timeout");
    }

    [Fact]
    public void A_submission_where_every_job_is_omitted_is_refused()
    {
        ErrorOn(Reject(Workflow(("a", Job() with { If = "trigger == 'scheduled'" }))), "jobs");
    }

    [Fact]
    public void A_branch_is_one_line_of_bounded_text()
    {
        ErrorOn(Reject(Pipeline("true", branch: "main\nevil")), "branch");
        ErrorOn(Reject(Pipeline("true", branch: new string('b', 201))), "branch");
    }

    [Fact]
    public void A_workflow_timeout_is_carried_and_bounded()
    {
        Assert.Equal(3600, Accept(Workflow(("a", Job())) with { Timeout = 3600 }).TimeoutSeconds);
        Assert.Null(Accept(Workflow(("a", Job()))).TimeoutSeconds);
        ErrorOn(Reject(Workflow(("a", Job())) with { Timeout = 0 }), "timeout");
        ErrorOn(Reject(Workflow(("a", Job())) with { Timeout = 31 * 24 * 3600 }), "timeout");
    }
}
