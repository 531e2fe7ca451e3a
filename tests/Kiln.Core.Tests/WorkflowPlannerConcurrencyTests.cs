using Kiln.Contracts;
using Kiln.Core;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary><c>concurrency: {group, cancel-in-progress, exempt-branches}</c> as the planner checks and substitutes it.</summary>
public sealed class WorkflowPlannerConcurrencyTests
{
    private static WorkflowDocument Grouped(ConcurrencyDocument concurrency, string? branch = "feature/x") => new()
    {
        Name = "ci",
        Branch = branch,
        Parameters = new() { ["suite"] = new ParameterDocument { Default = "trixie" } },
        Concurrency = concurrency,
        Jobs = new() { ["build"] = Job() },
    };

    [Fact]
    public void The_group_has_branch_workflow_and_parameters_substituted()
    {
        var plan = Accept(Grouped(new() { Group = "${{ workflow }}-${{ branch }}-${{ params.suite }}", CancelInProgress = true }));

        Assert.Equal(new PlannedConcurrency("ci-feature/x-trixie", true), plan.Concurrency);
    }

    [Fact]
    public void A_workflow_without_concurrency_has_no_group()
    {
        Assert.Null(Accept(Workflow(("build", Job()))).Concurrency);
    }

    [Fact]
    public void A_group_is_required()
    {
        var error = ErrorOn(Reject(Grouped(new() { CancelInProgress = true })), "concurrency.group");
        Assert.Contains("needs a name", error.Message);
    }

    [Fact]
    public void An_unknown_reference_in_the_group_is_named()
    {
        var error = ErrorOn(Reject(Grouped(new() { Group = "${{ params.nope }}" })), "concurrency.group");
        Assert.Contains("params.nope", error.Message);
    }

    [Fact]
    public void A_group_longer_than_200_characters_once_substituted_is_refused()
    {
        var error = ErrorOn(Reject(Grouped(new() { Group = new string('g', 150) + "${{ branch }}" }, branch: new string('b', 60))), "concurrency.group");
        Assert.Contains("200", error.Message);
    }

    [Fact]
    public void A_group_that_substitutes_to_blank_is_refused()
    {
        ErrorOn(Reject(Grouped(new() { Group = "${{ branch }}" }, branch: null)), "concurrency.group");
    }

    [Fact]
    public void A_control_character_in_a_group_is_refused()
    {
        ErrorOn(Reject(Grouped(new() { Group = "a\nb" })), "concurrency.group");
    }

    [Fact]
    public void An_exempt_branch_puts_the_workflow_in_no_group()
    {
        var exempt = new ConcurrencyDocument { Group = "${{ branch }}", ExemptBranches = ["main", "release/*"] };

        Assert.Null(Accept(Grouped(exempt, branch: "main")).Concurrency);
        Assert.Null(Accept(Grouped(exempt, branch: "release/1.0")).Concurrency);
        Assert.Equal("release/1.0/hotfix", Accept(Grouped(exempt, branch: "release/1.0/hotfix")).Concurrency?.Group);
        Assert.Equal("feature/x", Accept(Grouped(exempt)).Concurrency?.Group);
    }

    [Fact]
    public void A_bad_exempt_pattern_is_named_by_its_index()
    {
        ErrorOn(Reject(Grouped(new() { Group = "g", ExemptBranches = ["main", ""] })), "concurrency.exempt-branches[1]");
    }

    [Theory]
    [InlineData("main", "main", true)]
    [InlineData("main", "maint", false)]
    [InlineData("release/*", "release/2", true)]
    [InlineData("release/*", "release/2/x", false)]
    [InlineData("release/**", "release/2/x", true)]
    [InlineData("v?.x", "v1.x", true)]
    [InlineData("a.b", "aXb", false)]
    public void Branch_globs_match_whole_names(string pattern, string branch, bool matches)
    {
        Assert.Equal(matches, WorkflowConcurrency.Matches(pattern, branch));
    }
}
