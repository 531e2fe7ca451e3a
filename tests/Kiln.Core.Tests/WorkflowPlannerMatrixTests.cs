using Kiln.Contracts;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>Matrix expansion: one work request per combination, with values substituted.</summary>
public sealed class WorkflowPlannerMatrixTests
{
    private static JobDocument MatrixBuild(string run = "make ARCH=${{ matrix.arch }} SUITE=${{matrix.suite}}") => new()
    {
        Run = run,
        Matrix = new() { ["arch"] = ["amd64", "arm64"], ["suite"] = ["bookworm", "trixie"] },
    };

    [Fact]
    public void Matrix_expands_to_the_product_of_its_axes_named_by_their_values()
    {
        var plan = Accept(Workflow(("build", MatrixBuild())));

        Assert.Equal(
            ["build[amd64,bookworm]", "build[amd64,trixie]", "build[arm64,bookworm]", "build[arm64,trixie]"],
            plan.WorkRequests.Select(w => w.Name));
        Assert.All(plan.WorkRequests, w => Assert.Equal("build", w.JobName));
    }

    [Fact]
    public void Matrix_values_are_substituted_in_run_env_and_architecture()
    {
        var job = MatrixBuild() with
        {
            Env = new() { ["TARGET"] = "${{ matrix.arch }}-linux-gnu", ["PLAIN"] = "unchanged" },
            Requires = new JobRequirements { Architecture = "${{ matrix.arch }}", Tags = ["${{ matrix.suite }}-chroot"] },
        };

        var plan = Accept(Workflow(("build", job)));

        var request = Request(plan, "build[arm64,trixie]");
        Assert.Equal("make ARCH=arm64 SUITE=trixie", request.Run);
        Assert.Equal("arm64-linux-gnu", request.Env["TARGET"]);
        Assert.Equal("unchanged", request.Env["PLAIN"]);
        Assert.Equal("arm64", request.Architecture);
        Assert.Equal(["trixie-chroot"], request.Tags);
        Assert.Equal("make ARCH=amd64 SUITE=bookworm", Request(plan, "build[amd64,bookworm]").Run);
        Assert.Equal("amd64", Request(plan, "build[amd64,bookworm]").Architecture);
    }

    [Fact]
    public void Matrix_values_are_exported_as_KILN_MATRIX_variables()
    {
        var job = new JobDocument { Run = "make", Matrix = new() { ["arch"] = ["amd64"], ["debian-suite"] = ["trixie"] } };

        var request = Assert.Single(Accept(Workflow(("build", job))).WorkRequests);

        Assert.Equal("amd64", request.Env["KILN_MATRIX_ARCH"]);
        Assert.Equal("trixie", request.Env["KILN_MATRIX_DEBIAN_SUITE"]);
    }

    [Fact]
    public void Job_without_a_matrix_gets_no_matrix_variables_and_keeps_its_plain_name()
    {
        var request = Assert.Single(Accept(Workflow(("build", Job()))).WorkRequests);

        Assert.Equal("build", request.Name);
        Assert.DoesNotContain(request.Env.Keys, k => k.StartsWith("KILN_MATRIX_", StringComparison.Ordinal));
    }

    [Fact]
    public void Needing_a_matrix_job_depends_on_every_one_of_its_expansions()
    {
        var plan = Accept(Workflow(("build", MatrixBuild()), ("publish", Job("build"))));

        Assert.Equal(
            ["build[amd64,bookworm]", "build[amd64,trixie]", "build[arm64,bookworm]", "build[arm64,trixie]"],
            NeedNames(plan, "publish").Order(StringComparer.Ordinal));
        Assert.Equal(4, plan.EdgeCount);
    }

    [Fact]
    public void Matrix_job_needing_a_matrix_job_gets_every_edge_of_the_product()
    {
        var test = new JobDocument { Run = "make check", Needs = ["build"], Matrix = new() { ["shard"] = ["1", "2", "3"] } };

        var plan = Accept(Workflow(("build", MatrixBuild()), ("test", test)));

        Assert.Equal(7, plan.WorkRequests.Count);
        Assert.Equal(12, plan.EdgeCount);
        Assert.All(plan.WorkRequests.Where(w => w.JobName == "test"), w => Assert.Equal(4, w.Needs.Count));
        for (var i = 0; i < plan.WorkRequests.Count; i++)
        {
            Assert.All(plan.WorkRequests[i].Needs, need => Assert.True(need < i));
        }
    }

    [Fact]
    public void Unknown_matrix_variable_in_run_is_an_error_naming_the_field()
    {
        var errors = Reject(Workflow(("build", MatrixBuild("make OS=${{ matrix.os }}"))));

        Assert.All(errors, e => Assert.Equal("jobs.build.run", e.Field));
        Assert.Contains("matrix.os", errors[0].Message);
    }

    [Fact]
    public void Unknown_matrix_variable_in_env_or_architecture_is_an_error_naming_the_field()
    {
        var job = MatrixBuild() with
        {
            Env = new() { ["CC"] = "${{ matrix.compiler }}" },
            Requires = new JobRequirements { Architecture = "${{ matrix.cpu }}" },
        };

        var errors = Reject(Workflow(("build", job)));

        Assert.Contains("matrix.compiler", ErrorOn(errors, "jobs.build.env.CC").Message);
        Assert.Contains("matrix.cpu", ErrorOn(errors, "jobs.build.requires.architecture").Message);
    }

    [Fact]
    public void Matrix_reference_in_a_job_without_a_matrix_is_an_error()
    {
        var errors = Reject(Workflow(("build", new JobDocument { Run = "make ${{ matrix.arch }}" })));

        Assert.Equal("jobs.build.run", Assert.Single(errors).Field);
    }

    [Fact]
    public void Matrix_axis_without_values_is_rejected_naming_the_axis()
    {
        var job = new JobDocument { Run = "make", Matrix = new() { ["arch"] = [] } };

        ErrorOn(Reject(Workflow(("build", job))), "jobs.build.matrix.arch");
    }

    [Theory]
    [InlineData("amd64", "amd64")]
    [InlineData("amd 64", "arm64")]
    [InlineData("../x", "arm64")]
    public void Duplicate_or_unsafe_matrix_values_are_rejected_naming_the_axis(string first, string second)
    {
        var job = new JobDocument { Run = "make", Matrix = new() { ["arch"] = [first, second] } };

        ErrorOn(Reject(Workflow(("build", job))), "jobs.build.matrix.arch");
    }

    [Fact]
    public void Matrix_with_more_axes_than_the_limit_is_rejected()
    {
        var job = new JobDocument { Run = "make", Matrix = new() { ["a"] = ["1"], ["b"] = ["1"], ["c"] = ["1"] } };

        ErrorOn(Reject(Workflow(("build", job)), new WorkflowLimits { MaxMatrixAxes = 2 }), "jobs.build.matrix");
    }

    [Fact]
    public void Matrix_expanding_past_the_work_request_limit_is_rejected()
    {
        var limits = new WorkflowLimits { MaxWorkRequests = 3 };

        var errors = Reject(Workflow(("build", MatrixBuild())), limits);

        Assert.Contains("3", ErrorOn(errors, "jobs.build.matrix").Message);
    }
}
