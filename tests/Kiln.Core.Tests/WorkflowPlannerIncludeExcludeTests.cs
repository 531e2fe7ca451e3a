using Kiln.Contracts;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>Matrix <c>exclude</c> and <c>include</c>, GitHub Actions' rules.</summary>
public sealed class WorkflowPlannerIncludeExcludeTests
{
    private static WorkflowDocument Build(MatrixDocument matrix) =>
        Workflow(("build", new JobDocument { Run = "make CC=${{ matrix.cc }}", Matrix = matrix }));

    [Fact]
    public void Exclude_removes_every_combination_matching_all_its_keys()
    {
        var plan = Accept(Workflow(("build", new JobDocument
        {
            Run = "make",
            Matrix = new()
            {
                ["arch"] = ["amd64", "arm64", "riscv64"],
                ["suite"] = ["bookworm", "trixie"],
                Exclude = [new() { ["arch"] = "riscv64", ["suite"] = "bookworm" }, new() { ["arch"] = "arm64" }],
            },
        })));

        Assert.Equal(["build[amd64,bookworm]", "build[amd64,trixie]", "build[riscv64,trixie]"], plan.WorkRequests.Select(w => w.Name));
    }

    [Fact]
    public void Include_extends_matching_combinations_and_adds_the_ones_that_match_none()
    {
        var plan = Accept(Build(new()
        {
            ["arch"] = ["amd64", "arm64"],
            Include =
            [
                new() { ["cc"] = "gcc" },                         // no axis keys: extends every combination
                new() { ["arch"] = "arm64", ["cc"] = "clang" },   // overwrites what the first include added
                new() { ["arch"] = "riscv64", ["cc"] = "gcc" },   // matches none: a combination of its own
            ],
        }));

        Assert.Equal(["build[amd64,gcc]", "build[arm64,clang]", "build[riscv64,gcc]"], plan.WorkRequests.Select(w => w.Name));
        Assert.Equal("make CC=clang", Request(plan, "build[arm64,clang]").Run);
        Assert.Equal("clang", Request(plan, "build[arm64,clang]").Env["KILN_MATRIX_CC"]);
    }

    [Fact]
    public void A_matrix_of_include_entries_only_has_exactly_those_combinations()
    {
        var plan = Accept(Build(new() { Include = [new() { ["cc"] = "gcc" }, new() { ["cc"] = "clang" }] }));

        Assert.Equal(["build[gcc]", "build[clang]"], plan.WorkRequests.Select(w => w.Name));
    }

    [Fact]
    public void An_exclude_key_that_is_not_an_axis_is_refused_naming_it()
    {
        var error = ErrorOn(Reject(Build(new() { ["arch"] = ["amd64"], Exclude = [new() { ["arhc"] = "amd64" }] })), "jobs.build.matrix.exclude[0].arhc");
        Assert.Contains("not an axis", error.Message);
    }

    [Fact]
    public void An_exclude_value_the_axis_does_not_have_is_refused_as_excluding_nothing()
    {
        var error = ErrorOn(Reject(Build(new() { ["arch"] = ["amd64", "arm64"], Exclude = [new() { ["arch"] = "i386" }] })), "jobs.build.matrix.exclude[0].arch");
        Assert.Contains("would exclude nothing", error.Message);
    }

    [Fact]
    public void Excluding_every_combination_is_refused()
    {
        ErrorOn(Reject(Build(new() { ["arch"] = ["amd64"], Exclude = [new() { ["arch"] = "amd64" }] })), "jobs.build.matrix");
    }

    [Fact]
    public void Empty_entries_bad_values_and_repeated_combinations_are_refused()
    {
        ErrorOn(Reject(Build(new() { ["arch"] = ["amd64"], Include = [new()] })), "jobs.build.matrix.include[0]");
        ErrorOn(Reject(Build(new() { ["arch"] = ["amd64"], Include = [new() { ["cc"] = "gcc; rm -rf /" }] })), "jobs.build.matrix.include[0].cc");
        ErrorOn(Reject(Build(new() { Include = [new() { ["cc"] = "gcc" }, new() { ["cc"] = "gcc" }] })), "jobs.build.matrix.include");
    }

    [Fact]
    public void Include_and_exclude_lists_are_bounded()
    {
        var many = Enumerable.Range(0, 300).Select(i => new Dictionary<string, string> { ["cc"] = $"c{i}" }).ToList();
        ErrorOn(Reject(Build(new() { Include = many })), "jobs.build.matrix.include");
    }

    [Fact]
    public void Include_cannot_grow_a_matrix_past_the_work_request_limit()
    {
        var limits = Kiln.Core.WorkflowLimits.Default with { MaxWorkRequests = 3 };
        var matrix = new MatrixDocument { ["arch"] = ["a", "b", "c"], Include = [new() { ["arch"] = "d" }] };
        ErrorOn(Reject(Build(matrix), limits), "jobs.build.matrix");
    }

    [Fact]
    public void A_reference_to_a_key_only_some_combinations_have_is_refused_for_the_others()
    {
        var doc = Build(new() { ["arch"] = ["amd64", "arm64"], Include = [new() { ["arch"] = "arm64", ["cc"] = "clang" }] });
        ErrorOn(Reject(doc), "jobs.build.run");
    }
}
