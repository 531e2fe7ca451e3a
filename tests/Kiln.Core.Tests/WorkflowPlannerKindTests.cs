using Kiln.Contracts;
using Kiln.Core.Kinds;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>A job that <c>uses:</c> a built-in kind becomes an ordinary work request: the kind's script, its parameters as variables, its queue, outputs and architecture.</summary>
public sealed class WorkflowPlannerKindTests
{
    private static JobDocument Kind(string uses, Dictionary<string, string>? with = null, string? environment = "debian/bookworm-amd64") =>
        new() { Uses = uses, With = with, Environment = environment };

    [Fact]
    public void An_unknown_kind_is_refused_naming_the_kinds_there_are()
    {
        var error = ErrorOn(Reject(Workflow(("build", Kind("debian/sbuilder", new() { ["suite"] = "bookworm" })))), "jobs.build.uses");
        Assert.Contains("debian/sbuild", error.Message);
    }

    [Fact]
    public void An_unknown_parameter_is_refused_naming_the_parameters_the_kind_takes()
    {
        var error = ErrorOn(Reject(Workflow(("build", Kind("debian/sbuild", new() { ["suite"] = "bookworm", ["distro"] = "x" })))), "jobs.build.with.distro");
        Assert.Contains("arch-all", error.Message);
    }

    [Fact]
    public void A_missing_required_parameter_is_refused_with_its_description()
    {
        var error = ErrorOn(Reject(Workflow(("build", Kind("debian/sbuild")))), "jobs.build.with.suite");
        Assert.Contains("suite", error.Message);
    }

    [Theory]
    [InlineData("suite", "bookworm; rm -rf /")]
    [InlineData("arch", "AMD64")]
    [InlineData("arch-all", "yes")]
    public void A_value_of_the_wrong_form_is_refused(string parameter, string value)
    {
        var with = new Dictionary<string, string> { ["suite"] = "bookworm", [parameter] = value };
        ErrorOn(Reject(Workflow(("build", Kind("debian/sbuild", with)))), $"jobs.build.with.{parameter}");
    }

    [Fact]
    public void Defaults_fill_the_parameters_not_given_and_every_value_reaches_the_script_as_a_variable()
    {
        var plan = Accept(Workflow(("build", Kind("debian/sbuild", new() { ["suite"] = "trixie" }))));
        var build = Request(plan, "build");
        Assert.Equal("trixie", build.Env["KILN_WITH_SUITE"]);
        Assert.Equal("amd64", build.Env["KILN_WITH_ARCH"]);
        Assert.Equal("true", build.Env["KILN_WITH_ARCH_ALL"]);
        Assert.Equal("debian/sbuild", build.Env["KILN_KIND"]);
        Assert.Equal("amd64", build.Execution!.With!["arch"]);
    }

    [Fact]
    public void The_script_is_the_kinds_own_with_the_shared_helpers_before_it()
    {
        var build = Request(Accept(Workflow(("build", Kind("debian/sbuild", new() { ["suite"] = "bookworm" })))), "build");
        Assert.Contains("kiln_json_str()", build.Run);
        Assert.Contains("sbuild_summary()", build.Run);
        Assert.True(build.Run.IndexOf("kiln_json_str()", StringComparison.Ordinal) < build.Run.IndexOf("sbuild_summary()", StringComparison.Ordinal));
    }

    [Fact]
    public void Architecture_outputs_and_queue_come_from_the_kind()
    {
        var plan = Accept(Workflow(
            ("build", Kind("debian/sbuild", new() { ["suite"] = "bookworm", ["arch"] = "arm64" })),
            ("publish", new JobDocument { Uses = "apt/publish", With = new() { ["suite"] = "bookworm" }, Needs = ["build"] })));
        var build = Request(plan, "build");
        Assert.Equal("arm64", build.Architecture);
        Assert.Contains("out/**", build.Outputs);
        Assert.True(build.Execution!.OnHost);
        var publish = Request(plan, "publish");
        Assert.Equal("publish", publish.Queue);
        Assert.Equal("", publish.Run);
    }

    [Fact]
    public void A_kind_that_runs_in_an_environment_needs_one_named()
    {
        var error = ErrorOn(Reject(Workflow(("lint", Kind("debian/lintian", environment: null)))), "jobs.lint.environment");
        Assert.Contains("debian/bookworm-amd64", error.Message);
    }

    [Fact]
    public void Lintian_gets_the_network_to_install_itself_and_its_threshold_as_KILN_WITH_FAIL_ON()
    {
        var lint = Request(Accept(Workflow(("lint", Kind("debian/lintian", new() { ["fail-on"] = "warning" })))), "lint");
        Assert.Equal("warning", lint.Env["KILN_WITH_FAIL_ON"]);
        Assert.True(lint.Execution!.Network);
        Assert.False(lint.Execution.OnHost);
    }

    [Fact]
    public void Every_kind_with_a_script_ships_one_that_is_not_a_stub()
    {
        foreach (var kind in BuiltInKinds.Kinds.Where(k => k.Runner != KindRunner.Server && k.Name != "kiln/environment"))
        {
            Assert.DoesNotContain("is not written yet", kind.Script);
            Assert.Contains("kiln_result", kind.Script);
        }
    }
}
