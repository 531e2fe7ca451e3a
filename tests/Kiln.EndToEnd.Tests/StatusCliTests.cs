using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary><c>kiln status</c> through the real executable against a real server process.</summary>
public sealed class StatusCliTests
{
    [Fact]
    public async Task Kiln_status_shows_the_leader_database_and_workers_and_its_json_is_the_api_shape()
    {
        await using var farm = await Farm.StartAsync(nameof(StatusCliTests));
        FarmStatus? status = null;
        await Eventually.TrueAsync(async () =>
        {
            var (code, json) = await KilnProcess.RunAsync("status", "--server", farm.Url, "--json");
            Assert.True(code == 0, json);
            status = JsonSerializer.Deserialize<FarmStatus>(json, KilnClient.Json);
            return status!.Leadership.Leader is not null;
        }, Farm.Patience, "the server to lead", farm.Diagnostics);
        Assert.Equal(status!.Replica.Id, status.Leadership.Leader);
        Assert.True(status.Database.MigrationsCurrent);

        var (exit, text) = await KilnProcess.RunAsync("status", "--server", farm.Url);
        Assert.True(exit == 0, text);
        Assert.Contains($"Leader     {status.Replica.Id} since", text, StringComparison.Ordinal);
        Assert.Contains($"Database   ok, schema {status.Database.SchemaVersion}", text, StringComparison.Ordinal);
        Assert.Contains("Workers    0 online", text, StringComparison.Ordinal);
        Assert.DoesNotContain("warning:", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kiln_status_against_no_server_is_one_line_and_exit_code_3()
    {
        var (exit, text) = await KilnProcess.RunAsync("status", "--server", "http://127.0.0.1:9");
        Assert.Equal(3, exit);
        var line = Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("kiln status: cannot reach the Kiln server", line, StringComparison.Ordinal);
    }
}
