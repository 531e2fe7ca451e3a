using Kiln.Contracts;
using Kiln.Core;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>Declared parameters, supplied values and <c>${{ params.NAME }}</c>.</summary>
public sealed class WorkflowPlannerParameterTests
{
    private static WorkflowDocument Release(Dictionary<string, string>? values, JobDocument? job = null) => new()
    {
        Parameters = new()
        {
            ["version"] = new ParameterDocument(),
            ["suite"] = new ParameterDocument { Default = "bookworm", Values = ["bookworm", "trixie", "sid"] },
        },
        Params = values,
        Jobs = new()
        {
            ["build"] = job ?? new JobDocument
            {
                Run = "dpkg-buildpackage # ${{ params.version }}",
                Env = new() { ["SUITE"] = "${{params.suite}}" },
                Requires = new() { Tags = ["${{ params.suite }}-chroot"], Queue = "q-${{ params.suite }}" },
            },
        },
    };

    [Fact]
    public void Values_and_defaults_are_substituted_in_run_env_and_requires()
    {
        var build = Assert.Single(Accept(Release(new() { ["version"] = "2.10" })).WorkRequests);

        Assert.Equal("dpkg-buildpackage # 2.10", build.Run);
        Assert.Equal("bookworm", build.Env["SUITE"]);
        Assert.Equal(["bookworm-chroot"], build.Tags);
        Assert.Equal("q-bookworm", build.Queue);
    }

    [Fact]
    public void A_supplied_value_overrides_the_default()
    {
        var build = Assert.Single(Accept(Release(new() { ["version"] = "2.10", ["suite"] = "sid" })).WorkRequests);
        Assert.Equal("sid", build.Env["SUITE"]);
    }

    [Fact]
    public void A_missing_required_parameter_is_refused_naming_it()
    {
        var error = ErrorOn(Reject(Release(null)), "params.version");
        Assert.Contains("-p version=VALUE", error.Message);
    }

    [Fact]
    public void An_unknown_parameter_is_refused_naming_it_and_the_declared_ones()
    {
        var error = ErrorOn(Reject(Release(new() { ["version"] = "1", ["sutie"] = "sid" })), "params.sutie");
        Assert.Contains("version, suite", error.Message);
    }

    [Fact]
    public void A_value_outside_the_allowed_ones_is_refused()
    {
        var error = ErrorOn(Reject(Release(new() { ["version"] = "1", ["suite"] = "buster" })), "params.suite");
        Assert.Contains("bookworm, trixie, sid", error.Message);
    }

    [Fact]
    public void A_reference_to_an_undeclared_parameter_is_refused_naming_the_field()
    {
        ErrorOn(Reject(Release(new() { ["version"] = "1" }, new JobDocument { Run = "echo ${{ params.verison }}" })), "jobs.build.run");
    }

    [Theory]
    [InlineData("two\nlines")]
    [InlineData("${{ matrix.arch }}")]
    [InlineData("nul\u0000")]
    public void Values_are_one_line_of_plain_text(string value) =>
        ErrorOn(Reject(Release(new() { ["version"] = value })), "params.version");

    [Fact]
    public void Values_and_parameter_counts_are_bounded()
    {
        ErrorOn(Reject(Release(new() { ["version"] = new string('x', 257) })), "params.version");
        var many = Enumerable.Range(0, 51).ToDictionary(i => $"p{i}", _ => new ParameterDocument { Default = "x" });
        ErrorOn(Reject(new WorkflowDocument { Parameters = many, Jobs = new() { ["a"] = Job() } }), "parameters");
    }

    [Fact]
    public void A_default_outside_the_allowed_values_is_refused()
    {
        var doc = new WorkflowDocument
        {
            Parameters = new() { ["suite"] = new ParameterDocument { Default = "buster", Values = ["sid"] } },
            Jobs = new() { ["a"] = Job() },
        };
        ErrorOn(Reject(doc), "parameters.suite.default");
    }

    [Fact]
    public void Substituted_values_count_against_the_script_limit()
    {
        var limits = WorkflowLimits.Default with { MaxScriptBytes = 100 };
        var job = new JobDocument { Run = string.Concat(Enumerable.Repeat("${{ params.version }}", 4)) };
        ErrorOn(Reject(Release(new() { ["version"] = new string('v', 30) }, job), limits), "jobs.build.run");
    }
}
