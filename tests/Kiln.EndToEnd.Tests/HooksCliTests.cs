using System.Globalization;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// <c>kiln hooks</c> against a real server: add prints the secret once with a line saying to store
/// it, nothing lists it again, the receiver verifies the first delivery with it, and a bad URL is one
/// line naming the field with a non-zero exit.
/// </summary>
public sealed class HooksCliTests
{
    private const string Project = "e2e-outgoing";

    [Fact]
    public async Task Add_shows_the_secret_once_deliveries_verify_with_it_and_a_bad_url_is_one_line()
    {
        await using var farm = await Farm.StartAsync(nameof(HooksCliTests));
        await farm.Client.PutProjectAsync(Project, new ProjectSettings(null, null, null), CancellationToken.None);
        await using var receiver = await WebhookReceiver.StartAsync();

        var (added, addOut, addErr) = await KilnProcess.RunSplitAsync(["hooks", "add", Project, receiver.Url, "--events", "workflow", "--description", "chat", "--server", farm.Url]);
        Assert.True(added == 0, addOut + addErr);
        var secret = addOut.Split('\n').Single(l => l.StartsWith("signing secret", StringComparison.Ordinal)).Split(": ")[^1].Trim();
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        Assert.Contains("store it now", addOut, StringComparison.Ordinal);
        receiver.Secret = secret;

        var (listed, listOut, _) = await KilnProcess.RunSplitAsync(["hooks", "list", Project, "--server", farm.Url, "--json"]);
        Assert.Equal(0, listed);
        Assert.DoesNotContain(secret[6..], listOut, StringComparison.Ordinal);
        var hook = JsonSerializer.Deserialize<List<WebhookView>>(listOut, KilnClient.Json)!.Single();
        Assert.Equal((receiver.Url, "chat"), (hook.Url, hook.Description));
        var id = hook.Id.ToString(CultureInfo.InvariantCulture);

        await farm.Client.SubmitAsync(new WorkflowDocument { Project = Project, Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = "nobody" } } } }, CancellationToken.None);
        await Eventually.TrueAsync(() => receiver.Received.Count > 0, TimeSpan.FromSeconds(30), "the first webhook delivery");
        Assert.True(receiver.Received[0].Verified);

        var (shown, deliveriesOut, _) = await KilnProcess.RunSplitAsync(["hooks", "deliveries", id, "--limit", "5", "--server", farm.Url, "--json"]);
        Assert.Equal(0, shown);
        var page = JsonSerializer.Deserialize<Page<WebhookDeliveryView>>(deliveriesOut, KilnClient.Json)!;
        Assert.Equal(200, page.Items[^1].StatusCode);

        var (disabled, disableOut, _) = await KilnProcess.RunSplitAsync(["hooks", "disable", id, "--server", farm.Url]);
        Assert.Equal(0, disabled);
        Assert.Contains("disabled", disableOut, StringComparison.Ordinal);

        var (bad, _, badErr) = await KilnProcess.RunSplitAsync(["hooks", "add", Project, "ftp://example.org/x", "--server", farm.Url]);
        Assert.NotEqual(0, bad);
        Assert.Contains("url", badErr, StringComparison.Ordinal);
        Assert.Single(badErr.Trim().Split('\n'));
    }
}
