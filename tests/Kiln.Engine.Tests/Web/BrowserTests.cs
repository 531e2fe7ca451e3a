using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Store.Identity;
using Kiln.Store.Logs;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Npgsql;

namespace Kiln.Engine.Tests.Web;

/// <summary>A server whose leases outlast a browser test's pauses: its jobs are claimed by hand and never heartbeat.</summary>
public sealed class WebServerFixture : ServerFixture
{
    public override Kiln.Server.Hosting.KilnServerOptions Options(string connectionString) => base.Options(connectionString) with { Lease = TimeSpan.FromMinutes(2) };
}

/// <summary>
/// The web interface in a real browser (Debian's Chromium through Playwright) against a real
/// server and PostgreSQL: sign-in, a workflow page that follows its workflow to success without
/// a reload, a live log, a 200 MB log opened by its tail, escaping, and the buttons by role.
/// </summary>
public sealed class BrowserTests(WebServerFixture server, BrowserFixture browser) : IClassFixture<WebServerFixture>, IClassFixture<BrowserFixture>
{
    private async Task<IPage> SignedInAsync(string token, bool dark = false)
    {
        var page = await browser.PageAsync(server.Host.Url, dark);
        await page.GotoAsync("/ui/sign-in");
        await page.GetByLabel("API token").FillAsync(token);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync("**/ui/");
        return page;
    }

    private async Task<(long Workflow, long Job)> SubmitAsync(string queue, string project = "web-ui")
    {
        using var response = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Name = "web-" + queue,
            Project = project,
            Jobs = new() { ["build"] = new JobDocument { Run = "make", Requires = new() { Queue = queue } } },
        });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
        var workflow = await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{id}");
        return (id, Assert.Single(workflow!.Jobs!).Id);
    }

    private async Task<(HttpClient Worker, Assignment Job)> ClaimAsync(string queue)
    {
        var worker = await server.RegisterWorkerAsync("web-" + queue, queues: [queue]);
        var claim = await PoolSetup.ClaimAsync(worker);
        return (worker, Assert.Single(claim.Assignments));
    }

    private static async Task AppendAsync(HttpClient worker, Assignment job, long offset, string text)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/work-requests/{job.WorkRequestId}/log?attempt={job.Attempt}&offset={offset}") { Content = content };
        request.Headers.Add(LeaseHeaders.LeaseToken, job.LeaseToken.ToString());
        using var response = await worker.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task CompleteAsync(HttpClient worker, Assignment job)
    {
        using var done = await worker.PostAsJsonAsync($"/api/v1/work-requests/{job.WorkRequestId}/complete", new CompleteRequest(job.LeaseToken, "succeeded", 0, null));
        done.EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Signing_in_with_a_token_starts_a_session_of_its_own_and_signing_out_revokes_it()
    {
        var page = await browser.PageAsync(server.Host.Url);
        await page.GotoAsync("/ui/sign-in");
        await page.GetByLabel("API token").FillAsync("not-a-token");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("That is not an API token");
        await BrowserFixture.ScreenshotBothAsync(page, "sign-in");

        await page.GetByLabel("API token").FillAsync(server.AdminToken);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator(".who .user")).ToHaveTextAsync("admin (admin)");
        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "kiln_session");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Lax, cookie.SameSite);
        Assert.Equal("/ui", cookie.Path);
        Assert.NotEqual(server.AdminToken, cookie.Value);

        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Sign in" })).ToBeVisibleAsync();
        // The session's token is revoked: the cookie, replayed, authenticates nobody.
        var (user, why) = await server.Host.Services.GetRequiredService<IdentityStore>().AuthenticateAsync(cookie.Value, CancellationToken.None);
        Assert.Null(user);
        Assert.Equal(TokenRefusal.Revoked, why);
    }

    [Fact]
    public async Task A_workflow_page_follows_its_workflow_to_success_without_a_reload()
    {
        var (workflow, _) = await SubmitAsync("web-live");
        var page = await SignedInAsync(server.AdminToken);
        await page.GotoAsync($"/ui/workflows/{workflow}");
        await Assertions.Expect(page.Locator("#summary .state").First).ToHaveTextAsync("running");
        await page.EvaluateAsync("() => { window.kilnMarker = 'same page'; }");
        await BrowserFixture.ScreenshotAsync(page, "workflow");

        var (worker, job) = await ClaimAsync("web-live");
        await CompleteAsync(worker, job);

        await Assertions.Expect(page.Locator("#summary .state").First).ToHaveTextAsync("succeeded", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#jobs-table .state").First).ToHaveTextAsync("succeeded");
        Assert.Equal("same page", await page.EvaluateAsync<string>("() => window.kilnMarker"));
    }

    [Fact]
    public async Task A_live_log_follows_new_lines_and_renders_script_tags_and_ansi_escapes_as_text()
    {
        var (_, id) = await SubmitAsync("web-log");
        var (worker, job) = await ClaimAsync("web-log");
        var first = "starting the build\n";
        await AppendAsync(worker, job, 0, first);
        var page = await SignedInAsync(server.AdminToken);
        await page.GotoAsync($"/ui/work-requests/{id}");
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("starting the build");

        var hostile = "<script>window.kilnPwned = 1</script><img src=x onerror=\"window.kilnPwned = 2\">\n\u001b[31mred text\u001b[0m and \u001b[1mbold\u001b[0m\n";
        await AppendAsync(worker, job, Encoding.UTF8.GetByteCount(first), hostile);
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("red text", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("<script>window.kilnPwned = 1</script>");
        await Assertions.Expect(page.Locator("#log .ansi-31")).ToHaveTextAsync("red text");
        await Assertions.Expect(page.Locator("#log .ansi-bold")).ToHaveTextAsync("bold");
        Assert.Equal(0, await page.Locator("#log script, #log img").CountAsync());
        Assert.Null(await page.EvaluateAsync<int?>("() => window.kilnPwned ?? null"));
        Assert.DoesNotContain("\u001b", await page.Locator("#log").TextContentAsync() ?? "", StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("#L2")).ToBeAttachedAsync();

        // A section marked as GitLab marks them folds, timed by its own timestamps.
        var section = "\u001b[0Ksection_start:1700000000:compile\r\u001b[0KCompiling hello\ncc -o hello hello.c\n\u001b[0Ksection_end:1700000002:compile\r\u001b[0K\n";
        await AppendAsync(worker, job, Encoding.UTF8.GetByteCount(first + hostile), section);
        await Assertions.Expect(page.Locator("#log details summary")).ToContainTextAsync("Compiling hello", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#log details summary .took")).ToHaveTextAsync("2 s, 1 line");
        await BrowserFixture.ScreenshotBothAsync(page, "job");

        await CompleteAsync(worker, job);
        await Assertions.Expect(page.Locator("#log[data-complete=true]")).ToBeAttachedAsync(new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#job-summary .state").First).ToHaveTextAsync("succeeded", new() { Timeout = 15_000 });
    }

    [Fact]
    public async Task A_200_MB_log_opens_with_its_tail_and_loads_earlier_ranges_on_demand()
    {
        var (_, id) = await SubmitAsync("web-big");
        var (worker, job) = await ClaimAsync("web-big");
        // Written where the log store keeps it (as 200 appends of 1 MiB would leave it).
        var path = server.Host.Services.GetRequiredService<LogStore>().PathOf(id, job.Attempt, job.LeaseToken);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        const long size = 200L * 1024 * 1024;
        await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20))
        {
            var line = Encoding.ASCII.GetBytes(new string('x', 99) + "\n");
            for (long written = 0; written < size - 100; written += line.Length)
            {
                await file.WriteAsync(line);
            }
            await file.WriteAsync(Encoding.ASCII.GetBytes("the very last line\n"));
        }
        await CompleteAsync(worker, job);

        var page = await SignedInAsync(server.AdminToken, dark: true);
        await page.GotoAsync($"/ui/work-requests/{id}");
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("the very last line");
        await Assertions.Expect(page.Locator("#log-info")).ToContainTextAsync("of 200.0 MiB");
        await BrowserFixture.ScreenshotBothAsync(page, "job-large-log");
        var lines = await page.Locator("#log .line").CountAsync();
        Assert.InRange(lines, 2000, 3000); // 256 KiB of 100-byte lines, not 2 million
        var earlier = page.Locator("#log-earlier");
        await Assertions.Expect(earlier).ToBeVisibleAsync();
        await earlier.ClickAsync();
        await page.WaitForFunctionAsync($"() => document.querySelectorAll('#log .line').length > {lines + 2000}");
        Assert.InRange(await page.Locator("#log .line").CountAsync(), lines + 2000, lines + 3000);
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Raw log" })).ToHaveAttributeAsync("href", $"/ui/work-requests/{id}/log/raw?attempt={job.Attempt}");
    }

    [Fact]
    public async Task Cancel_and_retry_are_buttons_for_a_maintainer_and_absent_for_a_viewer_or_anonymous()
    {
        const string project = "web-private";
        var services = server.Host.Services;
        var identity = services.GetRequiredService<IdentityStore>();
        var access = services.GetRequiredService<AccessStore>();
        var admin = (await identity.FirstAdminIdAsync(CancellationToken.None))!.Value;
        Assert.NotNull(await access.CreateProjectAsync(project, admin, isPrivate: true, "", CancellationToken.None));
        var roles = new Dictionary<string, string>();
        await using (var db = NpgsqlDataSource.Create(server.ConnectionString))
        {
            foreach (var role in new[] { "viewer", "maintainer" })
            {
                await using var cmd = db.CreateCommand("WITH u AS (INSERT INTO users (name, created_at) VALUES ($1, now()) RETURNING id) " +
                    "INSERT INTO project_members (project_id, user_id, role, added_at) SELECT p.id, u.id, $2, now() FROM projects p, u WHERE p.name = $3 RETURNING user_id");
                cmd.Parameters.AddWithValue("web-" + role);
                cmd.Parameters.AddWithValue(role);
                cmd.Parameters.AddWithValue(project);
                var user = (long)(await cmd.ExecuteScalarAsync())!;
                roles[role] = (await identity.CreateTokenAsync(user, "web test", Scopes.All, null, CancellationToken.None)).Token;
            }
        }
        var (workflow, _) = await SubmitAsync("web-roles", project);

        var anonymous = await browser.PageAsync(server.Host.Url);
        var hidden = await anonymous.GotoAsync($"/ui/workflows/{workflow}");
        Assert.Equal(404, hidden!.Status);

        var viewer = await SignedInAsync(roles["viewer"]);
        await viewer.GotoAsync($"/ui/workflows/{workflow}");
        await Assertions.Expect(viewer.Locator("#summary .state").First).ToHaveTextAsync("running");
        Assert.Equal(0, await viewer.GetByRole(AriaRole.Button, new() { Name = "Cancel workflow" }).CountAsync());

        var maintainer = await SignedInAsync(roles["maintainer"], dark: true);
        await maintainer.GotoAsync($"/ui/workflows/{workflow}");
        await BrowserFixture.ScreenshotAsync(maintainer, "workflow", dark: true);
        await maintainer.GetByRole(AriaRole.Button, new() { Name = "Cancel workflow" }).ClickAsync();
        await Assertions.Expect(maintainer.Locator("#summary .state").First).ToHaveTextAsync("cancelled");
        await Assertions.Expect(maintainer.GetByRole(AriaRole.Status)).ToContainTextAsync("cancel");
        await maintainer.GetByRole(AriaRole.Button, new() { Name = "Retry failed jobs" }).ClickAsync();
        await Assertions.Expect(maintainer.Locator("#summary .state").First).ToHaveTextAsync("running");
        Assert.Equal(0, await viewer.GetByRole(AriaRole.Button, new() { Name = "Retry failed jobs" }).CountAsync());
    }

    [Fact]
    public async Task A_held_workflow_is_approved_by_button_and_runs()
    {
        var doc = new WorkflowDocument { Name = "web-held", Project = "web-held", Jobs = new() { ["build"] = new() { Run = "make", Requires = new() { Queue = "web-held" } } } };
        using (var project = await server.Client.PostAsJsonAsync("/api/v1/projects", new { name = "web-held" }))
        {
            Assert.True(project.IsSuccessStatusCode, await project.Content.ReadAsStringAsync());
        }
        var (plan, _) = server.Host.Services.GetRequiredService<Kiln.Core.WorkflowPlanner>().Plan(doc);
        var origin = new Kiln.Store.Engine.WorkflowOrigin(RuleId: null, InputKey: null, Hold: Kiln.Core.WorkflowState.Held, ConcurrencyGroup: null, CancelInProgress: false);
        var workflow = (await server.Host.Services.GetRequiredService<Kiln.Store.Engine.SubmissionStore>()
            .SubmitAsync(plan!, System.Text.Json.JsonSerializer.Serialize(doc, Kiln.Server.Api.ApiJson.Options), default, origin: origin)).WorkflowId;

        var page = await SignedInAsync(server.AdminToken);
        await Assertions.Expect(page.Locator("#held ~ table, section:has(#held) table")).ToContainTextAsync($"#{workflow}");
        await page.GotoAsync($"/ui/workflows/{workflow}");
        await Assertions.Expect(page.Locator("#summary .state").First).ToHaveTextAsync("held");
        await BrowserFixture.ScreenshotBothAsync(page, "held");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("approved");
        await Assertions.Expect(page.Locator("#summary .state").First).ToHaveTextAsync("running");
        var (worker, job) = await ClaimAsync("web-held");
        await CompleteAsync(worker, job);
        await Assertions.Expect(page.Locator("#summary .state").First).ToHaveTextAsync("succeeded", new() { Timeout = 15_000 });
    }

    [Fact]
    public async Task Projects_events_and_workers_pages_show_the_farm_and_an_admin_disables_and_enables_a_worker_by_button()
    {
        await SubmitAsync("web-pages", "web-pages");
        var triggers = new TriggerFarm(server);
        var eventId = await triggers.InsertAsync(TriggerFarm.KojiTag("bash", "5.2.37", "1.eln150"));
        await triggers.DrainAsync();
        using var worker = await server.RegisterWorkerAsync("web-pages-worker", queues: ["web-pages-none"]);

        var anonymous = await browser.PageAsync(server.Host.Url);
        await anonymous.GotoAsync("/ui/projects");
        await Assertions.Expect(anonymous.GetByRole(AriaRole.Link, new() { Name = "web-pages" })).ToBeVisibleAsync();
        await anonymous.GotoAsync("/ui/events");
        Assert.Contains("/ui/sign-in", anonymous.Url, StringComparison.Ordinal);
        await anonymous.GotoAsync("/ui/workers");
        await Assertions.Expect(anonymous.Locator("main table")).ToContainTextAsync("web-pages-worker");
        Assert.Equal(0, await anonymous.GetByRole(AriaRole.Button, new() { Name = "Disable web-pages-worker" }).CountAsync());

        foreach (var dark in new[] { false, true })
        {
            var page = await SignedInAsync(server.AdminToken, dark);
            await page.GotoAsync("/ui/projects");
            await BrowserFixture.ScreenshotAsync(page, "projects", dark);
            await page.GetByRole(AriaRole.Link, new() { Name = "web-pages" }).ClickAsync();
            await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Project web-pages" })).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("table.workflows")).ToContainTextAsync("web-web-pages");
            await page.GotoAsync("/ui/events");
            await Assertions.Expect(page.Locator("main table")).ToContainTextAsync("bash-5.2.37-1.eln150");
            await BrowserFixture.ScreenshotAsync(page, "events", dark);
            await page.GotoAsync($"/ui/events/{eventId}");
            await Assertions.Expect(page.Locator("main ol")).ToContainTextAsync("no-match");
            await page.GotoAsync("/ui/workers");
            await BrowserFixture.ScreenshotAsync(page, "workers", dark);
        }

        var admin = await SignedInAsync(server.AdminToken);
        await admin.GotoAsync("/ui/workers");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Disable web-pages-worker" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Status)).ToContainTextAsync("worker 'web-pages-worker' disabled");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Enable web-pages-worker" }).ClickAsync();
        await Assertions.Expect(admin.GetByRole(AriaRole.Status)).ToContainTextAsync("worker 'web-pages-worker' enabled");
    }

    [Fact]
    public async Task A_jobs_structured_result_shows_its_lintian_tags_and_the_admin_page_its_audit_log_to_admins_only()
    {
        var (_, id) = await SubmitAsync("web-result");
        var (worker, job) = await ClaimAsync("web-result");
        var result = System.Text.Json.JsonDocument.Parse("""
            {"status":"passed","failOn":"error","package":"hello","version":"2.10-3","architecture":"amd64",
             "tags":{"error":[],"warning":[{"package":"hello","type":"binary","tag":"<b>no-manual-page</b>","info":"usr/bin/hello"}],"info":[],"pedantic":[],"experimental":[]},
             "counts":{"error":0,"warning":1,"info":0,"pedantic":0,"experimental":0},"truncated":false}
            """).RootElement;
        using (var put = await worker.PutAsJsonAsync($"/api/v1/work-requests/{id}/result", new ResultUpload(job.LeaseToken, result)))
        {
            Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        }
        await CompleteAsync(worker, job);
        using (var notice = await server.Client.PostAsJsonAsync("/api/v1/notices", new PostNoticeRequest("info", "web test notice", null, null)))
        {
            Assert.True(notice.IsSuccessStatusCode, await notice.Content.ReadAsStringAsync());
        }

        var page = await SignedInAsync(server.AdminToken);
        await page.GotoAsync($"/ui/work-requests/{id}");
        await Assertions.Expect(page.Locator("main table").Last).ToContainTextAsync("<b>no-manual-page</b>");
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("hello 2.10-3 on amd64");
        Assert.Equal(0, await page.Locator("main td b").CountAsync());

        await page.GotoAsync("/ui/admin");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Audit log" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("web test notice");
        await BrowserFixture.ScreenshotBothAsync(page, "admin");

        var anonymous = await browser.PageAsync(server.Host.Url);
        await anonymous.GotoAsync("/ui/admin");
        Assert.Contains("/ui/sign-in", anonymous.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_dashboard_and_workflows_list_show_the_farm_and_page_by_keyset()
    {
        for (var i = 0; i < 3; i++)
        {
            await SubmitAsync("web-list", "web-list");
        }
        foreach (var dark in new[] { false, true })
        {
            var page = await SignedInAsync(server.AdminToken, dark);
            await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Queues" })).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("table").First).ToContainTextAsync("web-list");
            await BrowserFixture.ScreenshotAsync(page, "dashboard", dark);
            await page.GotoAsync("/ui/workflows?project=web-list");
            await Assertions.Expect(page.Locator(".count")).ToHaveTextAsync("3 workflows");
            await Assertions.Expect(page.Locator("table.workflows tbody tr")).ToHaveCountAsync(3);
            await BrowserFixture.ScreenshotAsync(page, "workflows", dark);
        }
        // The search beyond project and state: trigger, submitter, time (keyset pages, capped count as before).
        using (var pushed = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Name = "web-pushed", Project = "web-list", Trigger = "push", Jobs = new() { ["build"] = new JobDocument { Run = "make", Requires = new() { Queue = "web-list" } } },
        }))
        {
            Assert.True(pushed.IsSuccessStatusCode, await pushed.Content.ReadAsStringAsync());
        }
        var search = await SignedInAsync(server.AdminToken);
        var today = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (query, count) in new[]
        {
            ("project=web-list&trigger=push", "1 workflow"), ("project=web-list&submitter=admin", "4 workflows"),
            ($"project=web-list&since={today}", "4 workflows"), ("project=web-list&until=2000-01-01", "0 workflows"),
        })
        {
            await search.GotoAsync("/ui/workflows?" + query);
            await Assertions.Expect(search.Locator(".count")).ToHaveTextAsync(count);
        }
        await search.GotoAsync("/ui/workflows?project=web-list&trigger=push");
        await Assertions.Expect(search.Locator("table.workflows tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(search.Locator("table.workflows")).ToContainTextAsync("web-pushed");
        var badDay = await search.GotoAsync("/ui/workflows?since=yesterday");
        Assert.Equal(400, badDay!.Status);
        await Assertions.Expect(search.Locator("main")).ToContainTextAsync("'since' must be a day like 2026-12-01");

        var anonymous = await browser.PageAsync(server.Host.Url);
        var root = await anonymous.GotoAsync("/");
        Assert.EndsWith("/ui/", anonymous.Url, StringComparison.Ordinal);
        Assert.Equal(200, root!.Status);
        var headers = await root.AllHeadersAsync();
        Assert.Contains("script-src 'self'", headers["content-security-policy"], StringComparison.Ordinal);
    }
}
