using Kiln.Cli.Workflows;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>Workflow files are read as strictly as the API reads JSON, and errors point at lines.</summary>
public sealed class WorkflowFileTests
{
    [Fact]
    public void Yaml_file_becomes_the_same_document_the_api_takes()
    {
        var file = WorkflowFile.Parse("w.yaml", """
            name: demo
            jobs:
              build:
                matrix:
                  arch: [amd64, arm64]
                requires:
                  architecture: ${{ matrix.arch }}
                run: make
                outputs: ["*.deb"]
                retry:
                  maxAttempts: 2
                  onFailure: true
              test:
                needs: [build]
                run: make check
            """);
        var build = file.Document.Jobs!["build"];
        Assert.Equal("demo", file.Document.Name);
        Assert.Equal(["amd64", "arm64"], build.Matrix!["arch"]);
        Assert.Equal("${{ matrix.arch }}", build.Requires!.Architecture);
        Assert.Equal(2, build.Retry!.MaxAttempts);
        Assert.Equal(["build"], file.Document.Jobs["test"].Needs);
    }

    [Fact]
    public void A_jobs_secrets_are_read_from_the_file_and_a_refusal_of_one_points_at_its_line()
    {
        var file = WorkflowFile.Parse("w.yaml", "jobs:\n  publish:\n    run: ./publish\n    secrets: [UPLOAD_TOKEN, GPG_KEY]\n");
        Assert.Equal(["UPLOAD_TOKEN", "GPG_KEY"], file.Document.Jobs!["publish"].Secrets);
        Assert.StartsWith("w.yaml:4: jobs.publish.secrets:", file.Describe(new FieldError("jobs.publish.secrets", "project 'x' has no secret 'GPG_KEY'")), StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_key_is_an_error_naming_its_line_and_the_keys_allowed()
    {
        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.yaml", "jobs:\n  build:\n    run: make\n    need: [x]\n"));
        Assert.StartsWith("w.yaml:4:", error.Message, StringComparison.Ordinal);
        Assert.Contains("unknown key 'need'", error.Message, StringComparison.Ordinal);
        Assert.Contains("needs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Repeated_key_is_an_error()
    {
        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.yaml", "jobs:\n  a:\n    run: x\n    run: y\n"));
        Assert.StartsWith("w.yaml:4:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Server_field_errors_point_at_the_line_of_the_field()
    {
        var file = WorkflowFile.Parse("w.yaml", "name: x\njobs:\n  a:\n    run: echo\n    needs: [b]\n");
        Assert.Equal("w.yaml:5: jobs.a.needs[0]: unknown job 'b'", file.Describe(new FieldError("jobs.a.needs[0]", "unknown job 'b'")));
    }

    [Fact]
    public void A_list_instead_of_a_mapping_says_what_a_workflow_file_is_without_dotnet_type_names()
    {
        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.yaml", "- name: x\n- jobs: {}\n"));
        Assert.StartsWith("w.yaml:1:1: a workflow file is a mapping of keys", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Kiln.Contracts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_word_where_a_number_belongs_names_the_line_and_field_not_System_Int32()
    {
        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.yaml", "name: x\njobs:\n  a:\n    run: echo\n    priority: high\n"));
        Assert.StartsWith("w.yaml:5:", error.Message, StringComparison.Ordinal);
        Assert.Contains("jobs.a.priority: expected a whole number", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tab_in_the_indentation_is_reported_at_its_own_line()
    {
        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.yaml", "name: x\njobs:\n  a:\n\trun: echo\n"));
        Assert.StartsWith("w.yaml:4:1: a tab indents this line", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tab_inside_a_block_of_text_is_kept()
    {
        var file = WorkflowFile.Parse("w.yaml", "jobs:\n  a:\n    run: |\n      all:\n      \tmake\n");
        Assert.Equal("all:\n\tmake\n", file.Document.Jobs!["a"].Run);
    }

    [Fact]
    public void A_json_file_with_a_wrong_type_names_the_field_without_dotnet_type_names()
    {
        var error = Assert.Throws<WorkflowFileException>(() => WorkflowFile.Parse("w.json", "{\"jobs\": {\"a\": {\"run\": \"x\", \"priority\": \"high\"}}}"));
        Assert.Contains("jobs.a.priority: expected a whole number", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", error.Message, StringComparison.Ordinal);
    }
}
