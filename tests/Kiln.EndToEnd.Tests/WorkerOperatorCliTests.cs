using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary><c>kiln worker disable|enable|remove</c> through the real <c>kiln</c> executable.</summary>
/// <remarks>On a 60 s lease: the held work must still be held when the CLI process gets to disable its worker.</remarks>
public sealed class WorkerOperatorCliTests(LongLeaseServerFixture server) : IClassFixture<LongLeaseServerFixture>
{
    [Fact]
    public async Task An_operator_disables_a_busy_worker_which_then_cannot_register_enables_it_and_removes_it_once_idle()
    {
        var url = server.Host.Url;
        using var worker = await server.RegisterWorkerAsync("cli-builder", queues: ["cli-ops"]);
        using (var submit = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Jobs = new() { ["only"] = new JobDocument { Run = "true", Requires = new() { Queue = "cli-ops" }, Retry = new() { MaxAttempts = 1 } } },
        }))
        {
            submit.EnsureSuccessStatusCode();
        }
        using var claim = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5));
        var held = Assert.Single((await claim.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments);
        var id = held.WorkRequestId.ToString(CultureInfo.InvariantCulture);

        // Busy: remove is refused in one line naming the work, exit 1.
        var busy = await RunAsync("worker", "remove", "cli-builder", "--server", url);
        Assert.Equal(1, busy.Exit);
        Assert.StartsWith($"kiln worker remove: worker 'cli-builder' runs 1 work request(s): {id} (", busy.Stderr, StringComparison.Ordinal);
        Assert.Single(busy.Stderr.TrimEnd().Split('\n'));

        var disabled = await RunAsync("worker", "disable", "cli-builder", "--json", "--server", url);
        Assert.True(disabled.Exit == 0, disabled.Stderr);
        var answer = JsonSerializer.Deserialize<ActionResponse>(disabled.Stdout, KilnClient.Json)!;
        Assert.Equal(1, answer.Affected);
        var listed = await RunAsync("workers", "--server", url);
        Assert.Contains("disabled", listed.Stdout, StringComparison.Ordinal);

        // A real worker process under the disabled name is refused in one line, exit 1.
        var refused = await RunAsync(["worker", "--name", "cli-builder", "--queue", "cli-ops", "--server", url], server.Host.WorkerToken);
        Assert.Equal(1, refused.Exit);
        Assert.Contains("worker 'cli-builder' is disabled by an operator; enable it with 'kiln worker enable cli-builder'", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.Stderr, StringComparison.Ordinal);

        var enabled = await RunAsync("worker", "enable", "cli-builder", "--server", url);
        Assert.True(enabled.Exit == 0, enabled.Stderr);
        Assert.Contains("enabled", enabled.Stdout, StringComparison.Ordinal);

        // Its work went back when it was disabled: it runs nothing, so it can be removed.
        var removed = await RunAsync("worker", "remove", "cli-builder", "--server", url);
        Assert.True(removed.Exit == 0, removed.Stderr);
        var after = await RunAsync("workers", "--all", "--json", "--server", url);
        Assert.DoesNotContain(JsonSerializer.Deserialize<List<WorkerView>>(after.Stdout, KilnClient.Json)!, w => w.Name == "cli-builder");

        var unknown = await RunAsync("worker", "disable", "cli-builder", "--server", url);
        Assert.Equal(1, unknown.Exit);
        Assert.Contains("no worker named 'cli-builder'", unknown.Stderr, StringComparison.Ordinal);
        var missing = await RunAsync("worker", "disable", "--server", url);
        Assert.Equal(2, missing.Exit);
    }

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args) => RunAsync(args, token: null);

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(string[] args, string? token) =>
        KilnProcess.RunSplitAsync(args, token is null ? null : new Dictionary<string, string> { ["KILN_TOKEN"] = token });
}
