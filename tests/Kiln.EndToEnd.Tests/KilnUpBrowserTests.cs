using System.Text.Json;
using Kiln.Testing;
using Microsoft.Playwright;

namespace Kiln.EndToEnd.Tests;

public sealed partial class KilnUpTests
{
    /// <summary>
    /// The README's farm (<c>kiln up</c>, two real workers), a workflow submitted with the CLI, and a
    /// browser on its page: the page moves to success and the job's log fills in without a reload.
    /// </summary>
    [Fact]
    public async Task A_workflow_submitted_with_the_cli_is_followed_to_success_in_the_browser_with_its_live_log()
    {
        await File.WriteAllTextAsync(Path.Combine(farm.Directory, "web.yaml"), """
            name: web-watch
            jobs:
              build:
                run: |
                  for i in 1 2 3 4; do echo "step $i of 4"; sleep 1; done
            """);
        await using var browser = new BrowserFixture();
        await browser.InitializeAsync();
        var page = await browser.PageAsync(farm.Url);
        await page.GotoAsync("/");
        await page.GetByRole(AriaRole.Link, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByLabel("API token").FillAsync(farm.Client.Bearer!);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator(".who .user")).ToContainTextAsync("admin");

        var (exit, output) = await farm.RunAsync("submit", "web.yaml", "--json");
        Assert.True(exit == 0, output);
        using var answer = JsonDocument.Parse(output[output.IndexOf('{', StringComparison.Ordinal)..]);
        var id = answer.RootElement.GetProperty("id").GetInt64();

        // Two tabs, each loaded once: the workflow page and its job's page with the log.
        await page.GotoAsync($"/ui/workflows/{id}");
        var jobHref = await page.Locator("#jobs-table a").First.GetAttributeAsync("href");
        var job = await page.Context.NewPageAsync();
        await job.GotoAsync(jobHref!);
        foreach (var tab in new[] { page, job })
        {
            await tab.EvaluateAsync("() => { window.kilnMarker = 'same page'; }");
        }

        await Assertions.Expect(job.Locator("#log")).ToContainTextAsync("step 1 of 4", new() { Timeout = 60_000 });
        await Assertions.Expect(job.Locator("#log")).ToContainTextAsync("step 4 of 4", new() { Timeout = 30_000 });
        await Assertions.Expect(job.Locator("#job-summary .state").First).ToHaveTextAsync("succeeded", new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("#summary .state").First).ToHaveTextAsync("succeeded", new() { Timeout = 30_000 });
        foreach (var tab in new[] { page, job })
        {
            Assert.Equal("same page", await tab.EvaluateAsync<string>("() => window.kilnMarker"));
        }
    }
}
