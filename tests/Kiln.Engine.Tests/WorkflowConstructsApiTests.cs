using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>Parameters, if: and matrix include/exclude through POST /api/v1/workflows.</summary>
public sealed class WorkflowConstructsApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Release = """
        {"parameters": {"version": {}, "suite": {"default": "bookworm", "values": ["bookworm", "trixie"]}},
         "params": PARAMS,
         "branch": "main",
         "jobs": {
           "build": {"run": "build ${{ params.version }}", "matrix": {"arch": ["amd64", "arm64"], "exclude": [{"arch": "arm64"}], "include": [{"arch": "riscv64"}]}},
           "publish": {"run": "publish", "needs": ["build[*]"], "if": "params.suite == 'trixie' && branch == 'main'"}}}
        """;

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string body)
    {
        using var response = await server.Client.PostAsync("/api/v1/workflows", new StringContent(body, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task A_release_with_parameters_is_created_and_names_what_its_conditions_left_out()
    {
        var (status, body) = await PostAsync(Release.Replace("PARAMS", """{"version": "2.10"}""", StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(2, body.GetProperty("workRequests").GetInt32());
        Assert.Equal(["publish"], body.GetProperty("omitted").EnumerateArray().Select(e => e.GetString()));
        var view = await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{body.GetProperty("id").GetInt64()}", KilnClient.Json);
        Assert.Equal(["build[amd64]", "build[riscv64]"], view!.Jobs!.Select(j => j.Name).Order());
    }

    [Theory]
    [InlineData("""{}""", "params.version")]
    [InlineData("""{"version": "1", "colour": "red"}""", "params.colour")]
    [InlineData("""{"version": "1", "suite": "buster"}""", "params.suite")]
    public async Task A_missing_unknown_or_disallowed_parameter_is_a_400_naming_it(string values, string field)
    {
        var (status, body) = await PostAsync(Release.Replace("PARAMS", values, StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(field, body.GetProperty("errors")[0].GetProperty("field").GetString());
    }

    [Fact]
    public async Task A_condition_that_does_not_parse_is_a_400_naming_the_job_and_column()
    {
        var (status, body) = await PostAsync("""{"jobs": {"a": {"run": "true", "if": "trigger == push"}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("errors")[0];
        Assert.Equal("jobs.a.if", error.GetProperty("field").GetString());
        Assert.StartsWith("column 12: unknown name 'push'", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_matrix_that_is_not_an_object_is_a_400_not_a_500()
    {
        var (status, _) = await PostAsync("""{"jobs": {"a": {"run": "true", "matrix": ["amd64"]}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var (repeated, _) = await PostAsync("""{"jobs": {"a": {"run": "true", "matrix": {"include": [{"a": "1"}], "include": [{"a": "2"}]}}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, repeated);
    }

    [Fact]
    public async Task The_leader_cancels_a_workflow_past_its_timeout()
    {
        var (status, body) = await PostAsync("""{"timeout": 1, "jobs": {"a": {"run": "true", "requires": {"queue": "timeout-nobody"}}}}""");
        Assert.Equal(HttpStatusCode.Created, status);
        var id = body.GetProperty("id").GetInt64();

        // Polled, not timed: the duty runs every tick; the test waits for the state it promises.
        WorkflowView? view = null;
        for (var i = 0; i < 600 && view?.State != "cancelled"; i++)
        {
            await Task.Delay(100);
            view = await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{id}", KilnClient.Json);
        }
        Assert.Equal("cancelled", view!.State);
        Assert.Equal("cancelled", Assert.Single(view.Jobs!).State);
    }

    [Fact]
    public async Task A_workflow_timeout_out_of_range_is_a_400_naming_it()
    {
        var (status, body) = await PostAsync("""{"timeout": 0, "jobs": {"a": {"run": "true"}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("timeout", body.GetProperty("errors")[0].GetProperty("field").GetString());
    }
}
