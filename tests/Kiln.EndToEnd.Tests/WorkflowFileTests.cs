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
}
