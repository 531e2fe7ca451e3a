using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.EndToEnd.Tests;

/// <summary><c>kiln held list|approve|discard</c> against a real server process, as an operator uses them after a storm.</summary>
public sealed class HeldCliTests
{
    [Fact]
    public async Task An_operator_lists_approves_the_first_and_discards_the_rest_of_the_held_workflows()
    {
        await using var farm = await Farm.StartAsync(nameof(HeldCliTests));
        await using var db = NpgsqlDataSource.Create(farm.ConnectionString);
        var submissions = new SubmissionStore(db, TimeProvider.System);
        var held = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            // As the storm guard stores them (the trigger processor's submission with a held origin).
            var (plan, _) = new WorkflowPlanner().Plan(new WorkflowDocument
            {
                Project = "storm",
                Name = $"rebuild-{i}",
                Jobs = new() { ["build"] = new() { Run = "true", Requires = new() { Queue = "nobody-serves-this" } } },
            });
            held.Add((await submissions.SubmitAsync(plan!, "{}", CancellationToken.None, origin: new WorkflowOrigin(Hold: WorkflowState.Held))).WorkflowId);
        }

        var (listExit, listed) = await KilnProcess.RunAsync("held", "list", "--project", "storm", "--json", "--server", farm.Url);
        Assert.True(listExit == 0, listed);
        var page = JsonSerializer.Deserialize<Page<HeldWorkflowView>>(listed[listed.IndexOf('{', StringComparison.Ordinal)..], KilnClient.Json)!;
        Assert.Equal(held, page.Items.Select(w => w.Id));

        var (approveExit, approved) = await KilnProcess.RunAsync("held", "approve", "--project", "storm", "--first", "2", "--server", farm.Url);
        Assert.True(approveExit == 0, approved);
        Assert.Contains("2 held workflow(s) approved", approved, StringComparison.Ordinal);
        Assert.Equal(WorkflowState.Running, (await farm.Client.GetWorkflowAsync(held[0], CancellationToken.None)).State);
        Assert.Equal(WorkflowState.Held, (await farm.Client.GetWorkflowAsync(held[2], CancellationToken.None)).State);

        var (usageExit, usage) = await KilnProcess.RunAsync("held", "discard", "--server", farm.Url);
        Assert.Equal(2, usageExit);
        Assert.Contains("--first N, or --all", usage, StringComparison.Ordinal);

        var (discardExit, discarded) = await KilnProcess.RunAsync("held", "discard", "--all", "--project", "storm", "--server", farm.Url);
        Assert.True(discardExit == 0, discarded);
        Assert.Contains("1 held workflow(s) discarded", discarded, StringComparison.Ordinal);
        Assert.Equal(WorkflowState.Cancelled, (await farm.Client.GetWorkflowAsync(held[2], CancellationToken.None)).State);

        var (againExit, again) = await KilnProcess.RunAsync("held", "approve", held[2].ToString(System.Globalization.CultureInfo.InvariantCulture), "--server", farm.Url);
        Assert.Equal(1, againExit);
        Assert.Contains($"workflow {held[2]} is not held", again, StringComparison.Ordinal);
    }
}
