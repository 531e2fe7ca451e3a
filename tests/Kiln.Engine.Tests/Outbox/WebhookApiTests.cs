using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Engine.Tests.Hooks;
using Kiln.Testing;

namespace Kiln.Engine.Tests.Outbox;

/// <summary>The webhooks API's validation, secrecy and access: bad input is a 400 naming the field, the secret is shown once, a stranger sees nothing.</summary>
public sealed class WebhookApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Theory]
    [InlineData("""{"url":"ftp://example.org/x"}""", "url")]
    [InlineData("""{"url":"not a url"}""", "url")]
    [InlineData("""{}""", "url")]
    [InlineData("""{"url":"https://example.org/x","events":["workflow","deploys"]}""", "events")]
    [InlineData("""{"url":"https://example.org/x","events":[]}""", "events")]
    [InlineData("""{"url":"https://example.org/x","description":"TOOLONG"}""", "description")]
    public async Task Bad_input_is_a_400_naming_the_field_and_stores_nothing(string body, string field)
    {
        var project = await ProjectAsync();
        body = body.Replace("TOOLONG", new string('d', 201), StringComparison.Ordinal);
        using var response = await server.Client.PostAsync($"/api/v1/projects/{project}/webhooks", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(field, problem.GetProperty("errors")[0].GetProperty("field").GetString());
        Assert.Empty((await server.Client.GetFromJsonAsync<List<WebhookView>>($"/api/v1/projects/{project}/webhooks", KilnClient.Json))!);
    }

    [Fact]
    public async Task A_url_over_2000_characters_is_refused_naming_url()
    {
        var project = await ProjectAsync();
        using var response = await server.Client.PostAsJsonAsync($"/api/v1/projects/{project}/webhooks",
            new CreateWebhookRequest("https://example.org/" + new string('a', 2000)));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("url", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_secret_is_shown_on_create_and_rotate_only_and_patch_changes_what_it_names()
    {
        var project = await ProjectAsync();
        using var created = await server.Client.PostAsJsonAsync($"/api/v1/projects/{project}/webhooks", new CreateWebhookRequest("https://example.org/hook"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var made = (await created.Content.ReadFromJsonAsync<WebhookSecretView>(KilnClient.Json))!;
        Assert.Equal(["workflow", "job", "event"], made.Webhook.Events);
        Assert.True(made.Webhook.Enabled);

        var shown = await server.Client.GetStringAsync($"/api/v1/webhooks/{made.Webhook.Id}");
        var listed = await server.Client.GetStringAsync($"/api/v1/projects/{project}/webhooks");
        Assert.DoesNotContain(made.Secret[6..], shown, StringComparison.Ordinal);
        Assert.DoesNotContain(made.Secret[6..], listed, StringComparison.Ordinal);
        Assert.DoesNotContain("whsec_", shown + listed, StringComparison.Ordinal);

        using var rotated = await server.Client.PostAsync($"/api/v1/webhooks/{made.Webhook.Id}/rotate-secret", null);
        var secret = (await rotated.Content.ReadFromJsonAsync<WebhookSecretView>(KilnClient.Json))!.Secret;
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        Assert.NotEqual(made.Secret, secret);

        using var patched = await server.Client.PatchAsJsonAsync($"/api/v1/webhooks/{made.Webhook.Id}", new UpdateWebhookRequest(false, ["job"], "http://example.org/other", "chat"));
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        var view = (await patched.Content.ReadFromJsonAsync<WebhookView>(KilnClient.Json))!;
        Assert.Equal((false, "http://example.org/other", "chat"), (view.Enabled, view.Url, view.Description));
        Assert.Equal(["job"], view.Events);
        using var badPatch = await server.Client.PatchAsJsonAsync($"/api/v1/webhooks/{made.Webhook.Id}", new UpdateWebhookRequest(Events: ["nope"]));
        Assert.Equal(HttpStatusCode.BadRequest, badPatch.StatusCode);

        using var removed = await server.Client.DeleteAsync($"/api/v1/webhooks/{made.Webhook.Id}");
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        using var gone = await server.Client.GetAsync($"/api/v1/webhooks/{made.Webhook.Id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task A_user_who_is_no_member_cannot_list_or_see_a_private_projects_webhooks()
    {
        var project = HookFarm.Unique("whpriv");
        using (var created = await server.Client.PostAsJsonAsync("/api/v1/projects", new { name = project, visibility = "private" }))
        {
            created.EnsureSuccessStatusCode();
        }
        using var made = await server.Client.PostAsJsonAsync($"/api/v1/projects/{project}/webhooks", new CreateWebhookRequest("https://example.org/hook"));
        var id = (await made.Content.ReadFromJsonAsync<WebhookSecretView>(KilnClient.Json))!.Webhook.Id;
        using var stranger = await UserAsync(HookFarm.Unique("stranger"));

        using var list = await stranger.GetAsync($"/api/v1/projects/{project}/webhooks");
        using var one = await stranger.GetAsync($"/api/v1/webhooks/{id}");
        using var deliveries = await stranger.GetAsync($"/api/v1/webhooks/{id}/deliveries");
        Assert.Equal(HttpStatusCode.NotFound, list.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, one.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, deliveries.StatusCode);
    }

    private async Task<string> ProjectAsync()
    {
        var project = HookFarm.Unique("whapi");
        using var created = await server.Client.PostAsJsonAsync("/api/v1/projects", new { name = project });
        created.EnsureSuccessStatusCode();
        return project;
    }

    private async Task<HttpClient> UserAsync(string name)
    {
        using var added = await server.Client.PostAsJsonAsync("/api/v1/users/", new CreateUserRequest(name, $"{name} example", $"{name}@example.org"));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        using var minted = await server.Client.PostAsJsonAsync($"/api/v1/users/{name}/tokens", new CreateTokenRequest("first"));
        var token = (await minted.Content.ReadFromJsonAsync<CreatedTokenResponse>(KilnClient.Json))!.Token;
        var client = server.AnonymousClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
