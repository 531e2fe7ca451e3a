using Kiln.Contracts;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>
/// The size of a matrix expansion is bounded before it is built: every limit holds for the
/// expanded work requests, not only for the templates a user wrote.
/// </summary>
public sealed class WorkflowPlannerExpansionTests
{
    private static List<string> Values(string prefix, int count) => [.. Enumerable.Range(0, count).Select(i => $"{prefix}{i:D3}-{new string('v', 90)}")];

    /// <summary>A 64 KiB script made of matrix references under a 223 × 224 matrix (49,952 combinations).</summary>
    private static WorkflowDocument Bomb()
    {
        const string reference = "${{ matrix.a }}${{ matrix.b }}";
        var run = string.Concat(Enumerable.Repeat(reference, (64 * 1024) / reference.Length));
        return Workflow(("bomb", new JobDocument { Run = run, Matrix = new() { ["a"] = Values("a", 223), ["b"] = Values("b", 224) } }));
    }

    [Fact]
    public void A_matrix_bomb_is_refused_naming_the_script_and_its_limit_without_building_it()
    {
        var doc = Bomb();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();

        var errors = Reject(doc);

        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var error = ErrorOn(errors, "jobs.bomb.run");
        Assert.Contains("65,536 bytes", error.Message);
        // Building it would take gigabytes; refusing it takes the 50,000 combinations and one scan of the script.
        Assert.True(allocated < 64L * 1024 * 1024, $"refusing the bomb allocated {allocated:N0} bytes");
    }

    [Fact]
    public void A_script_within_its_limit_until_matrix_values_are_substituted_is_refused()
    {
        var limits = new WorkflowLimits { MaxScriptBytes = 40 };
        var job = new JobDocument { Run = "echo ${{ matrix.suite }}", Matrix = new() { ["suite"] = ["bookworm", new string('x', 40)] } };

        var error = ErrorOn(Reject(Workflow(("build", job)), limits), "jobs.build.run");

        Assert.Contains("45 bytes", error.Message);
        Assert.Contains("40 bytes", error.Message);
    }

    [Fact]
    public void An_environment_value_within_its_limit_until_substitution_is_refused_naming_the_variable()
    {
        var limits = new WorkflowLimits { MaxEnvValueLength = 20 };
        var job = new JobDocument { Run = "make", Env = new() { ["TARGET"] = "${{ matrix.arch }}-linux", }, Matrix = new() { ["arch"] = ["amd64", "a-very-long-architecture"] } };

        ErrorOn(Reject(Workflow(("build", job)), limits), "jobs.build.env.TARGET");
    }

    [Fact]
    public void A_plain_script_repeated_over_many_combinations_is_bounded_by_the_workflow_total()
    {
        var limits = new WorkflowLimits { MaxExpandedBytes = 1000 };
        var job = new JobDocument { Run = new string('x', 100), Matrix = new() { ["n"] = [.. Enumerable.Range(0, 11).Select(i => $"n{i}")] } };

        var error = ErrorOn(Reject(Workflow(("build", job)), limits), "jobs.build");

        Assert.Contains("1,000 bytes", error.Message);
        Assert.Contains("11 work request(s)", error.Message);
    }

    [Fact]
    public void Default_environment_counts_once_per_work_request_of_every_job()
    {
        var limits = new WorkflowLimits { MaxExpandedBytes = 10_000 };
        var doc = Workflow(
            ("a", new JobDocument { Run = "make", Matrix = new() { ["n"] = ["1", "2", "3"] } }),
            ("b", new JobDocument { Run = "make", Matrix = new() { ["n"] = ["1", "2", "3"] } })) with
        {
            Defaults = new JobDefaults { Env = new() { ["BIG"] = new string('x', 2000) } },
        };

        // Six work requests of 2,000 bytes each: the first job fits, the second crosses the total.
        ErrorOn(Reject(doc, limits), "jobs.b");
    }

    [Fact]
    public void The_expanded_size_agrees_with_what_is_built_at_the_limit()
    {
        // The template is 24 bytes; its longest expansion 25.
        var job = new JobDocument { Run = "echo ${{ matrix.suite }}", Matrix = new() { ["suite"] = ["bookworm", new string('x', 20)] } };

        var plan = Accept(Workflow(("build", job)), new WorkflowLimits { MaxScriptBytes = 25 });

        Assert.Equal(["echo bookworm", "echo " + new string('x', 20)], plan.WorkRequests.Select(w => w.Run));
        Assert.Contains("25 bytes", ErrorOn(Reject(Workflow(("build", job)), new WorkflowLimits { MaxScriptBytes = 24 }), "jobs.build.run").Message);
    }

    [Fact]
    public void Long_requirement_templates_and_axis_names_are_refused_before_expansion()
    {
        var longName = new string('a', 5000);
        ErrorOn(Reject(Workflow(("build", new JobDocument { Run = "make", Requires = new() { Architecture = longName } }))), "jobs.build.requires.architecture");
        ErrorOn(Reject(Workflow(("build", new JobDocument { Run = "make", Requires = new() { Tags = [longName] } }))), "jobs.build.requires.tags");
        ErrorOn(Reject(Workflow(("build", new JobDocument { Run = "make", Matrix = new() { [longName] = ["1"] } }))), $"jobs.build.matrix.{longName}");
        ErrorOn(Reject(Workflow(("build", new JobDocument { Run = "make", Requires = new() { Tags = [.. Enumerable.Range(0, 33).Select(i => $"t{i}")] } }))), "jobs.build.requires.tags");
    }

    [Theory]
    [InlineData("two\nlines")]
    [InlineData("bell\a")]
    [InlineData("nul\0")]
    public void A_workflow_name_is_one_line_of_text(string name)
    {
        ErrorOn(Reject(Workflow(("build", Job())) with { Name = name }), "name");
    }
}
