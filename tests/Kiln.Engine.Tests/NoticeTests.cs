using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>Operator notices through the HTTP API: stored, validated, and carried by every response's header.</summary>
[Collection(nameof(NoticeTests))]
public sealed class NoticeTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    public Task InitializeAsync() => server.Client.DeleteAsync("/api/v1/notices/");

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_posted_notice_is_in_the_header_of_every_api_response_until_it_is_cleared()
    {
        using var none = await server.Client.GetAsync("/api/v1/workers/");
        Assert.False(none.Headers.Contains(NoticeHeader.Name));

        using var posted = await server.Client.PostAsJsonAsync("/api/v1/notices/", new PostNoticeRequest("warning", "database maintenance at 18:00 UTC — builds pause ~10 min", null, null));
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        var notice = (await posted.Content.ReadFromJsonAsync<NoticeView>(KilnClient.Json))!;

        using var list = await server.Client.GetAsync("/api/v1/workflows/");
        using var missing = await server.Client.GetAsync("/api/v1/workflows/999999");
        using var refused = await server.Client.PostAsync("/api/v1/workflows/", new StringContent("{", Encoding.UTF8, "application/json"));
        foreach (var response in new[] { list, missing, refused })
        {
            Assert.Equal("warning: database maintenance at 18:00 UTC — builds pause ~10 min",
                NoticeHeader.Decode(response.Headers.GetValues(NoticeHeader.Name).Single()));
        }
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        var active = await server.Client.GetFromJsonAsync<List<NoticeView>>("/api/v1/notices/", KilnClient.Json);
        Assert.Equal(notice.Id, Assert.Single(active!).Id);

        using var cleared = await server.Client.DeleteAsync($"/api/v1/notices/{notice.Id}");
        Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
        using var after = await server.Client.GetAsync("/api/v1/workers/");
        Assert.False(after.Headers.Contains(NoticeHeader.Name));
        using var again = await server.Client.DeleteAsync($"/api/v1/notices/{notice.Id}");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task The_header_carries_the_most_severe_notice_and_a_scheduled_one_only_from_its_start()
    {
        var inAnHour = DateTimeOffset.UtcNow.AddHours(1);
        (await server.Client.PostAsJsonAsync("/api/v1/notices/", new PostNoticeRequest("info", "new arm64 builders", null, null))).EnsureSuccessStatusCode();
        (await server.Client.PostAsJsonAsync("/api/v1/notices/", new PostNoticeRequest("critical", "publishing is down", null, null))).EnsureSuccessStatusCode();
        (await server.Client.PostAsJsonAsync("/api/v1/notices/", new PostNoticeRequest("critical", "later outage", inAnHour, inAnHour.AddHours(1)))).EnsureSuccessStatusCode();

        using var response = await server.Client.GetAsync("/api/v1/workers/");
        Assert.Equal("critical: publishing is down", NoticeHeader.Decode(response.Headers.GetValues(NoticeHeader.Name).Single()));
        var active = await server.Client.GetFromJsonAsync<List<NoticeView>>("/api/v1/notices/", KilnClient.Json);
        Assert.Equal(["publishing is down", "new arm64 builders"], active!.Select(n => n.Text));
        var upcoming = await server.Client.GetFromJsonAsync<List<NoticeView>>("/api/v1/notices/?upcoming=true", KilnClient.Json);
        Assert.Contains(upcoming!, n => n.Text == "later outage");
    }

    [Theory]
    [InlineData("""{"severity":"warning","text":"line one\nline two"}""", "text")]
    [InlineData("""{"severity":"warning","text":"bell \u0007"}""", "text")]
    [InlineData("""{"severity":"warning","text":""}""", "text")]
    [InlineData("""{"severity":"urgent","text":"x"}""", "severity")]
    [InlineData("""{"severity":"info","text":"x","endsAt":"2000-01-01T00:00:00Z"}""", "endsAt")]
    [InlineData("""{"severity":"info","text":"x","colour":"red"}""", "colour")]
    public async Task A_bad_notice_is_a_400_naming_the_field_and_stores_nothing(string body, string field)
    {
        using var response = await server.Client.PostAsync("/api/v1/notices/", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(problem.GetProperty("errors").EnumerateArray(), e => e.GetProperty("field").GetString() == field);
        var upcoming = await server.Client.GetFromJsonAsync<List<NoticeView>>("/api/v1/notices/?upcoming=true", KilnClient.Json);
        Assert.Empty(upcoming!);
    }

    [Fact]
    public async Task A_notice_longer_than_500_characters_is_refused()
    {
        using var response = await server.Client.PostAsJsonAsync("/api/v1/notices/", new PostNoticeRequest("info", new string('x', 501), null, null));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("500", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
