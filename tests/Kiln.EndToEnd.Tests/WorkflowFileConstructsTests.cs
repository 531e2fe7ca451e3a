using System.Text.Json;
using Kiln.Cli.Commands;
using Kiln.Cli.Workflows;
using Kiln.Contracts;
using Kiln.Core;

namespace Kiln.EndToEnd.Tests;

/// <summary>The packager's constructs (include/exclude, JOB[*], parameters, if:) read from a file, planned, and misuse pointed at its line.</summary>
public sealed class WorkflowFileConstructsTests
{
    private const string Pipeline = """
        name: release
        parameters:
          version: {}
          suite:
            default: bookworm
            values: [bookworm, trixie]
        jobs:
          build:
            matrix:
              arch: [amd64, arm64, riscv64]
              exclude:
                - arch: riscv64
              include:
                - arch: arm64
                  cross: "yes"
            run: build ${{ params.version }} for ${{ params.suite }}
          test:
            needs: [build]
            matrix:
              arch: [amd64, arm64]
            run: test
          publish:
            needs: ["build[*]", test]
            if: branch == 'main' && params.suite in ['bookworm']
            run: publish
        """;

    private static WorkflowPlan PlanOf(WorkflowDocument doc)
    {
        var (plan, errors) = new WorkflowPlanner().Plan(doc);
        Assert.True(plan is not null, string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")));
        return plan;
    }

    [Fact]
    public void A_file_with_every_construct_is_read_and_planned_as_documented()
    {
        var file = WorkflowFile.Parse("w.yaml", Pipeline);
        var doc = file.Document with { Branch = "main", Params = SubmitCommand.WithParameters(null, ["version=2.10"]) };

        var plan = PlanOf(doc);

        Assert.Equal(["build[amd64]", "build[arm64,yes]", "test[amd64]", "test[arm64]", "publish"], plan.WorkRequests.Select(w => w.Name));
        Assert.Equal("build 2.10 for bookworm", plan.WorkRequests[0].Run);
        Assert.Equal([1], plan.WorkRequests[3].Needs);
        Assert.Equal([0, 1, 2, 3], plan.WorkRequests[4].Needs);
    }

    [Fact]
    public void The_condition_omits_publish_on_another_branch()
    {
        var doc = WorkflowFile.Parse("w.yaml", Pipeline).Document with { Branch = "feature", Params = new() { ["version"] = "1" } };
        Assert.Equal(["publish"], PlanOf(doc).Omitted);
    }

    [Fact]
    public void The_matrix_survives_the_trip_through_json_to_the_server()
    {
        var doc = WorkflowFile.Parse("w.yaml", Pipeline).Document;
        var json = JsonSerializer.Serialize(doc, KilnClient.Json);
        var back = JsonSerializer.Deserialize<WorkflowDocument>(json, KilnClient.Json)!;

        var matrix = back.Jobs!["build"].Matrix!;
        Assert.Equal(["amd64", "arm64", "riscv64"], matrix["arch"]);
        Assert.Equal("riscv64", Assert.Single(matrix.Exclude!)["arch"]);
        Assert.Equal("yes", Assert.Single(matrix.Include!)["cross"]);
    }

    [Fact]
    public void A_planner_error_inside_an_include_points_at_its_line()
    {
        var file = WorkflowFile.Parse("w.yaml", Pipeline);
        var (_, errors) = new WorkflowPlanner().Plan(file.Document with
        {
            Params = new() { ["version"] = "1" },
            Jobs = new(file.Document.Jobs!) { ["build"] = file.Document.Jobs!["build"] with { Matrix = new() { ["arch"] = ["amd64"], Exclude = [new() { ["arch"] = "i386" }] } } },
        });
        var error = errors.Single();
        Assert.Equal("jobs.build.matrix.exclude[0].arch", error.Field);
        Assert.StartsWith("w.yaml:12: jobs.build.matrix.exclude[0].arch:", file.Describe(new FieldError(error.Field, error.Message)), StringComparison.Ordinal);
    }

    [Fact]
    public void An_if_parse_error_points_at_the_if_line_and_names_the_column()
    {
        var file = WorkflowFile.Parse("w.yaml", Pipeline.Replace("branch == 'main'", "branch = 'main'", StringComparison.Ordinal));
        var (_, errors) = new WorkflowPlanner().Plan(file.Document with { Params = new() { ["version"] = "1" } });
        var error = errors.Single();
        Assert.StartsWith("w.yaml:24: jobs.publish.if: column 8:", file.Describe(new FieldError(error.Field, error.Message)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_matrix_include_that_is_not_a_list_of_mappings_names_its_line()
    {
        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.yaml", "jobs:\n  a:\n    run: x\n    matrix:\n      include: amd64\n"));
        Assert.StartsWith("w.yaml:5:", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_repeated_matrix_key_is_an_error()
    {
        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.yaml", "jobs:\n  a:\n    run: x\n    matrix:\n      arch: [a]\n      arch: [b]\n"));
        Assert.StartsWith("w.yaml:6:", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("version")]
    [InlineData("=2.10")]
    public void A_parameter_option_without_a_name_and_value_is_a_usage_error(string option)
    {
        var error = Assert.Throws<CliException>(() => SubmitCommand.WithParameters(null, [option]));
        Assert.Equal(2, error.ExitCode);
        Assert.Contains("NAME=VALUE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_parameter_option_overrides_the_file_and_keeps_everything_after_the_first_equals()
    {
        var values = SubmitCommand.WithParameters(new() { ["suite"] = "trixie", ["version"] = "1" }, ["suite=bookworm", "flags=a=b"]);
        Assert.Equal(new Dictionary<string, string> { ["suite"] = "bookworm", ["version"] = "1", ["flags"] = "a=b" }, values);
        Assert.Throws<CliException>(() => SubmitCommand.WithParameters(null, ["a=1", "a=2"]));
    }

    [Fact]
    public void The_reference_pages_example_plans_as_it_says()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(dir!.FullName, "Kiln.slnx")))
        {
            dir = dir.Parent;
        }
        var page = File.ReadAllText(Path.Combine(dir.FullName, "docs", "workflow-file.md"));
        var start = page.IndexOf("```yaml\n", StringComparison.Ordinal) + 8;
        var yaml = page[start..page.IndexOf("```", start, StringComparison.Ordinal)];
        var doc = WorkflowFile.Parse("example.yaml", yaml).Document;

        var main = PlanOf(doc with { Params = SubmitCommand.WithParameters(doc.Params, ["version=2.10"]) });
        Assert.Equal(["source", "build[amd64]", "build[arm64,yes]", "test[amd64]", "test[arm64]", "lintian", "publish"], main.WorkRequests.Select(w => w.Name));
        Assert.Equal(["build[arm64,yes]"], main.WorkRequests[4].Needs.Select(i => main.WorkRequests[i].Name));

        var sidPullRequest = PlanOf(doc with { Trigger = "pull-request", Params = new() { ["version"] = "2.10", ["suite"] = "sid" } });
        Assert.Equal(["lintian", "publish"], sidPullRequest.Omitted);
    }

    [Fact]
    public void Allow_failure_is_written_with_a_hyphen_in_files_and_json_alike()
    {
        var yaml = WorkflowFile.Parse("w.yaml", "jobs:\n  lintian:\n    run: lintian\n    allow-failure: true\n").Document;
        Assert.True(yaml.Jobs!["lintian"].AllowFailure);
        Assert.Contains("\"allow-failure\":true", JsonSerializer.Serialize(yaml, KilnClient.Json), StringComparison.Ordinal);
        var json = WorkflowFile.Parse("w.json", """{"jobs": {"lintian": {"run": "lintian", "allow-failure": true}}}""").Document;
        Assert.True(json.Jobs!["lintian"].AllowFailure);

        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.yaml", "jobs:\n  a:\n    run: x\n    allowFailure: true\n"));
        Assert.StartsWith("w.yaml:4:", error.Message, StringComparison.Ordinal);
        Assert.Contains("allow-failure", error.Message, StringComparison.Ordinal);
    }
}
