using Kiln.Contracts;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>Per-job field validation and workflow-wide size limits; every error names its field.</summary>
public sealed class WorkflowPlannerValidationTests
{
    private static IReadOnlyList<ValidationError> RejectJob(JobDocument job, WorkflowLimits? limits = null) =>
        Reject(Workflow(("build", job)), limits);

    private static PlannedWorkRequest AcceptJob(JobDocument job, WorkflowLimits? limits = null) =>
        Assert.Single(Accept(Workflow(("build", job)), limits).WorkRequests);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  \n\t")]
    public void Job_without_a_run_script_is_rejected(string? run)
    {
        var errors = RejectJob(new JobDocument { Run = run });

        Assert.Contains("run", ErrorOn(errors, "jobs.build.run").Message);
    }

    [Fact]
    public void Script_larger_than_the_limit_is_rejected()
    {
        var limits = new WorkflowLimits { MaxScriptBytes = 16 };

        Assert.Equal(new string('x', 16), AcceptJob(new JobDocument { Run = new string('x', 16) }, limits).Run);
        Assert.Contains("16 bytes", ErrorOn(RejectJob(new JobDocument { Run = new string('x', 17) }, limits), "jobs.build.run").Message);
    }

    [Fact]
    public void Script_size_is_measured_in_utf8_bytes_not_characters()
    {
        var limits = new WorkflowLimits { MaxScriptBytes = 16 };

        // Nine characters, eighteen bytes.
        ErrorOn(RejectJob(new JobDocument { Run = new string('é', 9) }, limits), "jobs.build.run");
    }

    [Theory]
    [InlineData("1ABC")]
    [InlineData("MY-VAR")]
    [InlineData("A B")]
    [InlineData("PATH=")]
    [InlineData("")]
    public void Invalid_environment_variable_name_is_rejected_naming_it(string name)
    {
        var errors = RejectJob(new JobDocument { Run = "make", Env = new() { [name] = "1" } });

        ErrorOn(errors, $"jobs.build.env.{name}");
    }

    [Fact]
    public void Invalid_environment_variable_name_in_defaults_is_rejected_on_each_job()
    {
        var doc = Workflow(("build", Job())) with { Defaults = new JobDefaults { Env = new() { ["BAD-NAME"] = "1" } } };

        ErrorOn(Reject(doc), "jobs.build.env.BAD-NAME");
    }

    [Fact]
    public void Valid_environment_variables_are_passed_through()
    {
        var request = AcceptJob(new JobDocument { Run = "make", Env = new() { ["_PRIVATE"] = "a", ["CFLAGS"] = "-O2 -g" } });

        Assert.Equal("a", request.Env["_PRIVATE"]);
        Assert.Equal("-O2 -g", request.Env["CFLAGS"]);
    }

    [Fact]
    public void Too_many_or_too_long_environment_values_are_rejected()
    {
        var limits = new WorkflowLimits { MaxEnvEntries = 2, MaxEnvValueLength = 4 };

        ErrorOn(RejectJob(new JobDocument { Run = "make", Env = new() { ["A"] = "1", ["B"] = "2", ["C"] = "3" } }, limits), "jobs.build.env");
        ErrorOn(RejectJob(new JobDocument { Run = "make", Env = new() { ["A"] = "12345" } }, limits), "jobs.build.env.A");
        AcceptJob(new JobDocument { Run = "make", Env = new() { ["A"] = "1234", ["B"] = "" } }, limits);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(7 * 24 * 3600 + 1)]
    public void Timeout_out_of_range_is_rejected(int timeout)
    {
        ErrorOn(RejectJob(new JobDocument { Run = "make", Timeout = timeout }), "jobs.build.timeout");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7 * 24 * 3600)]
    public void Timeout_at_the_bounds_is_accepted(int timeout)
    {
        Assert.Equal(timeout, AcceptJob(new JobDocument { Run = "make", Timeout = timeout }).TimeoutSeconds);
    }

    [Fact]
    public void Out_of_range_default_timeout_is_reported_on_the_job_that_inherits_it()
    {
        var doc = Workflow(("build", Job())) with { Defaults = new JobDefaults { Timeout = 0 } };

        ErrorOn(Reject(doc), "jobs.build.timeout");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(21)]
    public void Retry_attempts_out_of_range_are_rejected(int maxAttempts)
    {
        var job = new JobDocument { Run = "make", Retry = new RetryPolicyDocument { MaxAttempts = maxAttempts } };

        ErrorOn(RejectJob(job), "jobs.build.retry.maxAttempts");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(20)]
    public void Retry_attempts_at_the_bounds_are_accepted(int maxAttempts)
    {
        var job = new JobDocument { Run = "make", Retry = new RetryPolicyDocument { MaxAttempts = maxAttempts } };

        Assert.Equal(maxAttempts, AcceptJob(job).MaxAttempts);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(3601)]
    public void Retry_backoff_out_of_range_is_rejected(int backoff)
    {
        var job = new JobDocument { Run = "make", Retry = new RetryPolicyDocument { BackoffSeconds = backoff } };

        ErrorOn(RejectJob(job), "jobs.build.retry.backoffSeconds");
    }

    [Theory]
    [InlineData(1001)]
    [InlineData(-1001)]
    [InlineData(int.MaxValue)]
    public void Priority_out_of_range_is_rejected(int priority)
    {
        ErrorOn(RejectJob(new JobDocument { Run = "make", Priority = priority }), "jobs.build.priority");
    }

    [Fact]
    public void Most_negative_priority_is_rejected_rather_than_crashing_the_planner()
    {
        // A JSON body may carry -2147483648; Math.Abs of it overflows.
        ErrorOn(RejectJob(new JobDocument { Run = "make", Priority = int.MinValue }), "jobs.build.priority");
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(-1000)]
    public void Priority_at_the_bounds_is_accepted(int priority)
    {
        Assert.Equal(priority + FairShare.TriggerPriority["manual"], AcceptJob(new JobDocument { Run = "make", Priority = priority }).Priority);
    }

    [Theory]
    [InlineData("../secret")]
    [InlineData("dist/../../etc/passwd")]
    [InlineData("..")]
    [InlineData("/etc/passwd")]
    [InlineData("dist\\..\\x")]
    [InlineData("")]
    [InlineData(" ")]
    public void Unsafe_output_glob_is_rejected_naming_its_index(string glob)
    {
        var errors = RejectJob(new JobDocument { Run = "make", Outputs = ["dist/*.deb", glob] });

        Assert.Contains("..", ErrorOn(errors, "jobs.build.outputs[1]").Message);
        Assert.DoesNotContain(errors, e => e.Field == "jobs.build.outputs[0]");
    }

    [Fact]
    public void Relative_output_globs_are_accepted_as_written()
    {
        var request = AcceptJob(new JobDocument { Run = "make", Outputs = ["dist/*.deb", "logs/**/*.txt", "notes..txt"] });

        Assert.Equal(["dist/*.deb", "logs/**/*.txt", "notes..txt"], request.Outputs);
    }

    [Fact]
    public void More_output_globs_than_the_limit_are_rejected()
    {
        var job = new JobDocument { Run = "make", Outputs = ["a", "b", "c"] };

        ErrorOn(RejectJob(job, new WorkflowLimits { MaxOutputs = 2 }), "jobs.build.outputs");
    }

    [Theory]
    [InlineData("my queue")]
    [InlineData("")]
    public void Invalid_queue_name_is_rejected(string queue)
    {
        ErrorOn(RejectJob(new JobDocument { Run = "make", Requires = new JobRequirements { Queue = queue } }), "jobs.build.requires.queue");
    }

    [Fact]
    public void Invalid_or_too_many_tags_are_rejected()
    {
        ErrorOn(RejectJob(new JobDocument { Run = "make", Requires = new JobRequirements { Tags = ["has space"] } }), "jobs.build.requires.tags");
        var limits = new WorkflowLimits { MaxTags = 2 };
        ErrorOn(RejectJob(new JobDocument { Run = "make", Requires = new JobRequirements { Tags = ["a", "b", "c"] } }, limits), "jobs.build.requires.tags");
    }

    [Fact]
    public void Invalid_architecture_is_rejected()
    {
        var job = new JobDocument { Run = "make", Requires = new JobRequirements { Architecture = "x86 64" } };

        ErrorOn(RejectJob(job), "jobs.build.requires.architecture");
    }

    [Fact]
    public void Every_invalid_field_is_reported_in_one_answer()
    {
        var job = new JobDocument { Run = "", Timeout = 0, Priority = 5000, Outputs = ["/abs"] };

        var errors = Reject(Workflow(("build", job), ("test", new JobDocument { Run = "make", Timeout = -1 })));

        ErrorOn(errors, "jobs.build.run");
        ErrorOn(errors, "jobs.build.timeout");
        ErrorOn(errors, "jobs.build.priority");
        ErrorOn(errors, "jobs.build.outputs[0]");
        ErrorOn(errors, "jobs.test.timeout");
    }

    [Fact]
    public void Workflow_expanding_past_the_work_request_limit_is_rejected()
    {
        var limits = new WorkflowLimits { MaxWorkRequests = 3 };

        Accept(Workflow(("a", Job()), ("b", Job()), ("c", Job())), limits);
        var errors = Reject(Workflow(("a", Job()), ("b", Job()), ("c", Job()), ("d", Job())), limits);

        Assert.Contains("more than 3 work requests", Assert.Single(errors, e => e.Field == "jobs").Message);
    }

    [Fact]
    public void Workflow_with_more_edges_than_the_limit_is_rejected()
    {
        var limits = new WorkflowLimits { MaxEdges = 2 };
        var build = new JobDocument { Run = "make", Matrix = new() { ["arch"] = ["amd64", "arm64"] } };

        Assert.Equal(2, Accept(Workflow(("build", build), ("test", Job("build"))), limits).EdgeCount);
        var errors = Reject(Workflow(("build", build), ("test", Job("build")), ("publish", Job("test"))), limits);

        Assert.Contains("more than 2 dependency edges", Assert.Single(errors, e => e.Field == "jobs").Message);
    }
}
