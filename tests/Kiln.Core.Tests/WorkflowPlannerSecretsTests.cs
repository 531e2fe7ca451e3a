using Kiln.Contracts;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>A job's <c>secrets:</c> — the names are checked at planning; whether the project has them is the server's check.</summary>
public sealed class WorkflowPlannerSecretsTests
{
    private static JobDocument Naming(params string[] secrets) => new() { Run = "make", Secrets = [.. secrets] };

    [Fact]
    public void The_secrets_a_job_names_are_kept_in_order_and_every_matrix_entry_gets_them()
    {
        var job = Naming("UPLOAD_TOKEN", "GPG_KEY") with { Matrix = new MatrixDocument { ["arch"] = ["amd64", "arm64"] } };
        var plan = Accept(Workflow(("publish", job), ("build", Job())));

        var publish = plan.WorkRequests.Where(w => w.JobName == "publish").ToList();
        Assert.Equal(2, publish.Count);
        Assert.All(publish, w => Assert.Equal(["GPG_KEY", "UPLOAD_TOKEN"], w.Secrets));
        Assert.Empty(plan.WorkRequests.Single(w => w.JobName == "build").Secrets);
    }

    [Theory]
    [InlineData("lower_case")]
    [InlineData("9STARTS_WITH_DIGIT")]
    [InlineData("HAS-DASH")]
    [InlineData("")]
    public void A_secret_name_that_is_not_upper_case_letters_digits_and_underscores_is_refused(string name)
    {
        var error = ErrorOn(Reject(Workflow(("build", Naming(name)))), "jobs.build.secrets[0]");
        Assert.Contains("not a secret name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_of_more_than_100_characters_is_refused()
    {
        ErrorOn(Reject(Workflow(("build", Naming(new string('A', 101))))), "jobs.build.secrets[0]");
        Accept(Workflow(("build", Naming(new string('A', 100)))));
    }

    [Fact]
    public void A_job_names_at_most_20_secrets()
    {
        Accept(Workflow(("build", Naming([.. Enumerable.Range(0, 20).Select(i => $"S{i}")]))));
        var error = ErrorOn(Reject(Workflow(("build", Naming([.. Enumerable.Range(0, 21).Select(i => $"S{i}")])))), "jobs.build.secrets");
        Assert.Contains("at most 20", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_secret_named_twice_is_refused()
    {
        var error = ErrorOn(Reject(Workflow(("build", Naming("TOKEN", "TOKEN")))), "jobs.build.secrets[1]");
        Assert.Contains("twice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kiln_variables_cannot_be_secrets()
    {
        var error = ErrorOn(Reject(Workflow(("build", Naming("KILN_WORK_REQUEST_ID")))), "jobs.build.secrets[0]");
        Assert.Contains("Kiln's own", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_variable_set_in_env_too_is_refused_even_through_the_defaults()
    {
        var doc = Workflow(("build", Naming("TOKEN"))) with { Defaults = new JobDefaults { Env = new() { ["TOKEN"] = "plain" } } };
        var error = ErrorOn(Reject(doc), "jobs.build.secrets[0]");
        Assert.Contains("also set in env", error.Message, StringComparison.Ordinal);
    }
}
