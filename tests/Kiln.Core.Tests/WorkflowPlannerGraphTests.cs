using Kiln.Contracts;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>The job graph: ordering, <c>needs</c> edges, cycles and structural errors.</summary>
public sealed class WorkflowPlannerGraphTests
{
    [Fact]
    public void Valid_workflow_plans_every_job_after_the_jobs_it_needs_even_when_declared_in_reverse()
    {
        var plan = Accept(Workflow(
            ("deploy", Job("test", "package")),
            ("test", Job("build")),
            ("package", Job("build")),
            ("build", Job())));

        Assert.Equal(4, plan.WorkRequests.Count);
        for (var i = 0; i < plan.WorkRequests.Count; i++)
        {
            Assert.All(plan.WorkRequests[i].Needs, need => Assert.True(need < i, $"{plan.WorkRequests[i].Name} at {i} needs {need}"));
        }
        Assert.Equal("build", plan.WorkRequests[0].Name);
        Assert.Equal("deploy", plan.WorkRequests[^1].Name);
        Assert.Equal(["package", "test"], NeedNames(plan, "deploy").Order(StringComparer.Ordinal));
        Assert.Equal(["build"], NeedNames(plan, "test"));
        Assert.Empty(Request(plan, "build").Needs);
        Assert.Equal(4, plan.EdgeCount);
    }

    [Fact]
    public void Jobs_without_needs_keep_their_declared_order()
    {
        var plan = Accept(Workflow(("lint", Job()), ("docs", Job()), ("build", Job())));

        Assert.Equal(["lint", "docs", "build"], plan.WorkRequests.Select(w => w.Name));
    }

    [Fact]
    public void Needing_the_same_job_twice_creates_a_single_edge()
    {
        var plan = Accept(Workflow(("build", Job()), ("test", Job("build", "build"))));

        Assert.Equal(["build"], NeedNames(plan, "test"));
        Assert.Equal(1, plan.EdgeCount);
    }

    [Fact]
    public void Plan_carries_the_workflow_name_project_and_idempotency_key()
    {
        var doc = Workflow(("build", Job())) with { Name = "nightly", Project = "kernel", IdempotencyKey = "sha-abc123" };

        var plan = Accept(doc);

        Assert.Equal("nightly", plan.Name);
        Assert.Equal("kernel", plan.Project);
        Assert.Equal("sha-abc123", plan.IdempotencyKey);
        Assert.Equal("build", Request(plan, "build").JobName);
        Assert.Equal("make", Request(plan, "build").Run);
    }

    [Fact]
    public void Cycle_is_rejected_naming_the_jobs_in_it()
    {
        // 'report' depends on the cycle but is not part of it: the message must show only the loop.
        var errors = Reject(Workflow(("report", Job("a")), ("a", Job("b")), ("b", Job("a"))));

        var error = Assert.Single(errors);
        Assert.Equal("jobs", error.Field);
        Assert.Contains("cycle", error.Message);
        Assert.True(
            error.Message.Contains("a → b → a", StringComparison.Ordinal) || error.Message.Contains("b → a → b", StringComparison.Ordinal),
            error.Message);
        Assert.DoesNotContain("report", error.Message);
    }

    [Fact]
    public void Three_job_cycle_message_walks_the_whole_loop_back_to_its_start()
    {
        var errors = Reject(Workflow(("x", Job("z")), ("y", Job("x")), ("z", Job("y")), ("free", Job())));

        var message = Assert.Single(errors).Message;
        var path = message[(message.IndexOf(':', StringComparison.Ordinal) + 1)..].Split('→', StringSplitOptions.TrimEntries);
        Assert.Equal(4, path.Length);
        Assert.Equal(path[0], path[^1]);
        Assert.Equal(["x", "y", "z"], path[..3].Order(StringComparer.Ordinal));
        // Each step follows a needs edge: x needs z, z needs y, y needs x.
        var needs = new Dictionary<string, string> { ["x"] = "z", ["z"] = "y", ["y"] = "x" };
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(needs[path[i]], path[i + 1]);
        }
    }

    [Fact]
    public void Unknown_need_is_rejected_naming_its_index_and_the_known_jobs()
    {
        var errors = Reject(Workflow(("build", Job()), ("test", Job("build", "biuld"))));

        var error = Assert.Single(errors);
        Assert.Equal("jobs.test.needs[1]", error.Field);
        Assert.Contains("'biuld'", error.Message);
        Assert.Contains("build, test", error.Message);
    }

    [Fact]
    public void Job_that_needs_itself_is_rejected()
    {
        var errors = Reject(Workflow(("build", Job("build"))));

        var error = Assert.Single(errors);
        Assert.Equal("jobs.build.needs[0]", error.Field);
        Assert.Contains("cannot need itself", error.Message);
    }

    [Fact]
    public void Null_entry_in_needs_is_rejected_as_an_unknown_job()
    {
        var doc = Workflow(("build", Job()), ("test", new JobDocument { Run = "make", Needs = ["build", null!] }));

        ErrorOn(Reject(doc), "jobs.test.needs[1]");
    }

    [Fact]
    public void Workflow_without_jobs_is_rejected()
    {
        Assert.Equal("jobs", Assert.Single(Reject(new WorkflowDocument { Jobs = [] })).Field);
        Assert.Equal("jobs", Assert.Single(Reject(new WorkflowDocument())).Field);
    }

    [Fact]
    public void Missing_document_is_rejected_with_an_explanation()
    {
        var error = Assert.Single(Reject(null));

        Assert.Contains("workflow document", error.Message);
    }

    [Fact]
    public void Null_job_is_rejected_naming_the_job()
    {
        var doc = Workflow(("build", Job()), ("test", null!));

        var error = Assert.Single(Reject(doc));
        Assert.Equal("jobs.test", error.Field);
        Assert.Contains("run", error.Message);
    }

    [Theory]
    [InlineData("bad name")]
    [InlineData("-leading-dash")]
    [InlineData("_leading_underscore")]
    [InlineData("build[amd64]")]
    [InlineData("a/b")]
    public void Invalid_job_name_is_rejected_naming_the_job(string name)
    {
        var errors = Reject(Workflow((name, Job())));

        Assert.Contains($"'{name}'", ErrorOn(errors, $"jobs.{name}").Message);
    }

    [Fact]
    public void Job_name_longer_than_the_limit_is_rejected()
    {
        // 8 still fits the default workflow name 'workflow' and project 'default'.
        var limits = new WorkflowLimits { MaxNameLength = 8 };

        Accept(Workflow(("compiler", Job())), limits);
        var errors = Reject(Workflow(("compilers", Job())), limits);
        Assert.Equal("jobs.compilers", Assert.Single(errors).Field);
    }

    [Theory]
    [InlineData("my project")]
    [InlineData("")]
    [InlineData(".hidden")]
    public void Invalid_project_name_is_rejected(string project)
    {
        ErrorOn(Reject(Workflow(("build", Job())) with { Project = project }), "project");
    }

    [Fact]
    public void Empty_or_overlong_workflow_name_is_rejected()
    {
        var limits = new WorkflowLimits { MaxNameLength = 10 };

        ErrorOn(Reject(Workflow(("build", Job())) with { Name = "" }, limits), "name");
        ErrorOn(Reject(Workflow(("build", Job())) with { Name = new string('n', 11) }, limits), "name");
        Accept(Workflow(("build", Job())) with { Name = "with space" }, limits);
    }

    [Fact]
    public void Empty_or_overlong_idempotency_key_is_rejected()
    {
        ErrorOn(Reject(Workflow(("build", Job())) with { IdempotencyKey = "" }), "idempotencyKey");
        ErrorOn(Reject(Workflow(("build", Job())) with { IdempotencyKey = new string('k', 201) }), "idempotencyKey");
        Accept(Workflow(("build", Job())) with { IdempotencyKey = new string('k', 200) });
    }
}
