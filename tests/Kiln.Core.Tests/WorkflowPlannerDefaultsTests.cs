using Kiln.Contracts;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>What a job gets when it says nothing, and how its own settings beat the workflow's defaults.</summary>
public sealed class WorkflowPlannerDefaultsTests
{
    private static readonly JobDefaults Defaults = new()
    {
        Timeout = 600,
        Requires = new JobRequirements { Architecture = "arm64", Tags = ["kvm"], Queue = "heavy" },
        Retry = new RetryPolicyDocument { MaxAttempts = 5, OnFailure = true, BackoffSeconds = 30 },
        Env = new() { ["CI"] = "true", ["LANG"] = "C.UTF-8" },
    };

    [Fact]
    public void Job_that_sets_nothing_gets_the_documented_defaults()
    {
        var plan = Accept(Workflow(("build", new JobDocument { Run = "make" })));

        Assert.Equal("default", plan.Project);
        Assert.Equal("workflow", plan.Name);
        Assert.Null(plan.IdempotencyKey);
        var request = Assert.Single(plan.WorkRequests);
        Assert.Equal(3 * 3600, request.TimeoutSeconds);
        Assert.Equal("builds", request.Queue);
        Assert.Equal(3, request.MaxAttempts);
        Assert.False(request.RetryOnFailure);
        Assert.Equal(10, request.BackoffSeconds);
        Assert.Equal("manual", plan.Trigger);
        Assert.Equal(FairShare.TriggerPriority["manual"], request.Priority);
        Assert.Null(request.Architecture);
        Assert.Empty(request.Tags);
        Assert.Empty(request.Env);
        Assert.Empty(request.Outputs);
        Assert.Empty(request.Needs);
    }

    [Fact]
    public void Default_timeout_comes_from_the_planner_limits()
    {
        var request = Assert.Single(Accept(Workflow(("build", Job())), new WorkflowLimits { DefaultTimeoutSeconds = 42 }).WorkRequests);

        Assert.Equal(42, request.TimeoutSeconds);
    }

    [Fact]
    public void Workflow_defaults_apply_to_a_job_that_sets_nothing()
    {
        var plan = Accept(Workflow(("build", Job())) with { Defaults = Defaults });

        var request = Assert.Single(plan.WorkRequests);
        Assert.Equal(600, request.TimeoutSeconds);
        Assert.Equal("arm64", request.Architecture);
        Assert.Equal(["kvm"], request.Tags);
        Assert.Equal("heavy", request.Queue);
        Assert.Equal(5, request.MaxAttempts);
        Assert.True(request.RetryOnFailure);
        Assert.Equal(30, request.BackoffSeconds);
        Assert.Equal("true", request.Env["CI"]);
        Assert.Equal("C.UTF-8", request.Env["LANG"]);
    }

    [Fact]
    public void Job_settings_take_precedence_over_workflow_defaults()
    {
        var job = new JobDocument
        {
            Run = "make",
            Timeout = 60,
            Requires = new JobRequirements { Architecture = "amd64", Tags = ["docker"], Queue = "fast" },
            Retry = new RetryPolicyDocument { MaxAttempts = 1, OnFailure = false, BackoffSeconds = 0 },
        };

        var request = Assert.Single(Accept(Workflow(("build", job)) with { Defaults = Defaults }).WorkRequests);

        Assert.Equal(60, request.TimeoutSeconds);
        Assert.Equal("amd64", request.Architecture);
        Assert.Equal(["docker"], request.Tags);
        Assert.Equal("fast", request.Queue);
        Assert.Equal(1, request.MaxAttempts);
        Assert.False(request.RetryOnFailure);
        Assert.Equal(0, request.BackoffSeconds);
    }

    [Fact]
    public void Job_env_overrides_a_default_variable_and_keeps_the_others()
    {
        var job = new JobDocument { Run = "make", Env = new() { ["LANG"] = "de_DE.UTF-8", ["EXTRA"] = "1" } };

        var request = Assert.Single(Accept(Workflow(("build", job)) with { Defaults = Defaults }).WorkRequests);

        Assert.Equal("de_DE.UTF-8", request.Env["LANG"]);
        Assert.Equal("true", request.Env["CI"]);
        Assert.Equal("1", request.Env["EXTRA"]);
        Assert.Equal(3, request.Env.Count);
    }

    [Fact]
    public void Job_requirements_without_a_queue_still_use_the_default_queue()
    {
        var job = new JobDocument { Run = "make", Requires = new JobRequirements { Tags = ["docker"] } };

        var request = Assert.Single(Accept(Workflow(("build", job)) with { Defaults = Defaults }).WorkRequests);

        Assert.Equal("heavy", request.Queue);
    }

    [Fact]
    public void Defaults_do_not_leak_between_jobs_that_override_them()
    {
        var plan = Accept(Workflow(("fast", new JobDocument { Run = "make", Timeout = 5 }), ("slow", Job())) with { Defaults = Defaults });

        Assert.Equal(5, Request(plan, "fast").TimeoutSeconds);
        Assert.Equal(600, Request(plan, "slow").TimeoutSeconds);
    }

    [Fact]
    public void User_env_wins_over_the_generated_matrix_variable()
    {
        var job = new JobDocument { Run = "make", Matrix = new() { ["arch"] = ["amd64"] }, Env = new() { ["KILN_MATRIX_ARCH"] = "mine" } };

        Assert.Equal("mine", Assert.Single(Accept(Workflow(("build", job))).WorkRequests).Env["KILN_MATRIX_ARCH"]);
    }

    [Fact]
    public void Tags_are_sorted_ordinally_and_deduplicated()
    {
        var job = new JobDocument { Run = "make", Requires = new JobRequirements { Tags = ["zeta", "alpha", "zeta", "Beta", "alpha"] } };

        var request = Assert.Single(Accept(Workflow(("build", job))).WorkRequests);

        Assert.Equal(["Beta", "alpha", "zeta"], request.Tags);
    }

    [Fact]
    public void Tags_that_become_equal_after_matrix_substitution_are_deduplicated()
    {
        var job = new JobDocument
        {
            Run = "make",
            Matrix = new() { ["arch"] = ["amd64"] },
            Requires = new JobRequirements { Tags = ["${{ matrix.arch }}", "amd64"] },
        };

        Assert.Equal(["amd64"], Assert.Single(Accept(Workflow(("build", job))).WorkRequests).Tags);
    }

    [Fact]
    public void Allow_failure_is_carried_per_job_and_off_by_default()
    {
        var plan = Accept(Workflow(("lintian", Job() with { AllowFailure = true }), ("build", Job())));
        Assert.True(Request(plan, "lintian").AllowFailure);
        Assert.False(Request(plan, "build").AllowFailure);
    }
}
