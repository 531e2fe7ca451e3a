using System.Net;
using System.Net.Http.Json;
using System.Text;
using Kiln.Contracts;
using Kiln.Store.Secrets;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// The secrets API against a real server: only a project's owner (and an admin) sets, lists and
/// deletes its secrets, no answer ever carries a value, the database holds only sealed bytes, bad
/// input is a 4xx naming the field, and a job naming a secret its project lacks is refused at submission.
/// </summary>
public sealed class ProjectSecretsApiTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private const string Value = "s3cr3t-Value-of-the-owner";
    private static int s_instances;
    private SecretsFarm _farm = null!;
    private readonly List<string> _answers = [];

    public async Task InitializeAsync() => _farm = await SecretsFarm.CreateAsync(server, $"secapi{Interlocked.Increment(ref s_instances)}");

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Only_the_owner_and_an_admin_set_list_and_delete_a_projects_secrets_and_no_answer_carries_a_value()
    {
        var a = _farm.ProjectA;
        Assert.Equal(HttpStatusCode.Created, await PutAsync(_farm.Owner, a, "DEPLOY_TOKEN", Value));
        Assert.Equal(HttpStatusCode.OK, await PutAsync(_farm.Owner, a, "DEPLOY_TOKEN", Value + "-2"));
        Assert.Equal(HttpStatusCode.Created, await PutAsync(server.Client, a, "ADMIN_SET", Value + "-admin"));
        Assert.Equal(HttpStatusCode.Forbidden, await PutAsync(_farm.Maintainer, a, "DEPLOY_TOKEN", Value));
        Assert.Equal(HttpStatusCode.NotFound, await PutAsync(_farm.OtherOwner, a, "DEPLOY_TOKEN", Value));
        using (var anonymous = server.AnonymousClient())
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await PutAsync(anonymous, a, "DEPLOY_TOKEN", Value));
            Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(anonymous, HttpMethod.Get, $"/api/v1/projects/{a}/secrets/"));
            Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(anonymous, HttpMethod.Delete, $"/api/v1/projects/{a}/secrets/DEPLOY_TOKEN"));
        }

        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(_farm.Maintainer, HttpMethod.Get, $"/api/v1/projects/{a}/secrets/"));
        Assert.Equal(HttpStatusCode.NotFound, await SendAsync(_farm.OtherOwner, HttpMethod.Get, $"/api/v1/projects/{a}/secrets/"));
        var listed = (await _farm.Owner.GetFromJsonAsync<List<SecretView>>($"/api/v1/projects/{a}/secrets/"))!;
        _answers.Add(System.Text.Json.JsonSerializer.Serialize(listed));
        Assert.Equal(["ADMIN_SET", "DEPLOY_TOKEN"], listed.Select(s => s.Name));
        Assert.EndsWith("-owner", listed.Single(s => s.Name == "DEPLOY_TOKEN").UpdatedBy, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await SendAsync(server.Client, HttpMethod.Get, $"/api/v1/projects/{a}/secrets/"));

        // Everything else that could show the project reads no value either.
        foreach (var path in new[] { $"/api/v1/projects/{a}", "/api/v1/projects/", "/openapi/v1.json" })
        {
            await SendAsync(_farm.Owner, HttpMethod.Get, path);
        }

        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(_farm.Maintainer, HttpMethod.Delete, $"/api/v1/projects/{a}/secrets/DEPLOY_TOKEN"));
        Assert.Equal(HttpStatusCode.NotFound, await SendAsync(_farm.OtherOwner, HttpMethod.Delete, $"/api/v1/projects/{a}/secrets/DEPLOY_TOKEN"));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(_farm.Owner, HttpMethod.Delete, $"/api/v1/projects/{a}/secrets/DEPLOY_TOKEN"));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(server.Client, HttpMethod.Delete, $"/api/v1/projects/{a}/secrets/ADMIN_SET"));
        Assert.Empty((await _farm.Owner.GetFromJsonAsync<List<SecretView>>($"/api/v1/projects/{a}/secrets/"))!);

        Assert.NotEmpty(_answers);
        Assert.All(_answers, body => Assert.DoesNotContain("s3cr3t-Value", body, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_database_holds_only_the_sealed_bytes_and_the_audit_log_names_the_secret_without_its_value()
    {
        const string value = "only-sealed-Z9xq-value";
        Assert.Equal(HttpStatusCode.Created, await PutAsync(_farm.Owner, _farm.ProjectA, "SEALED_ONE", value));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(_farm.Owner, HttpMethod.Delete, $"/api/v1/projects/{_farm.ProjectA}/secrets/NOT_THERE"));
        Assert.Equal(HttpStatusCode.Created, await PutAsync(_farm.Owner, _farm.ProjectA, "SEALED_TWO", value));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(_farm.Owner, HttpMethod.Delete, $"/api/v1/projects/{_farm.ProjectA}/secrets/SEALED_TWO"));

        await using var db = new NpgsqlConnection(server.ConnectionString);
        await db.OpenAsync();
        await using (var rows = new NpgsqlCommand("SELECT sealed, row_to_json(s)::text FROM project_secrets s", db))
        await using (var reader = await rows.ExecuteReaderAsync())
        {
            var seen = 0;
            while (await reader.ReadAsync())
            {
                seen++;
                Assert.Equal(-1, reader.GetFieldValue<byte[]>(0).AsSpan().IndexOf(Encoding.UTF8.GetBytes(value)));
                Assert.DoesNotContain(value, reader.GetString(1), StringComparison.Ordinal);
            }
            Assert.True(seen > 0);
        }
        await using var audit = new NpgsqlCommand("SELECT coalesce(string_agg(row_to_json(a)::text, E'\\n'), '') FROM audit_log a WHERE action LIKE 'secret.%'", db);
        var entries = (string)(await audit.ExecuteScalarAsync())!;
        Assert.DoesNotContain(value, entries, StringComparison.Ordinal);
        Assert.Contains("\"SEALED_ONE\"", entries, StringComparison.Ordinal);
        Assert.Contains("secret.delete", entries, StringComparison.Ordinal);
        Assert.Contains($"project:{_farm.ProjectA}", entries, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_names_and_bodies_are_refused_naming_what_is_wrong_before_anything_is_stored()
    {
        var path = $"/api/v1/projects/{_farm.ProjectA}/secrets/";
        await AssertFieldAsync(await RawPutAsync(path + "lower", "text/plain", "abcdef"u8.ToArray()), HttpStatusCode.BadRequest, "secret");
        await AssertFieldAsync(await RawPutAsync(path + "INVALID_UTF8", "text/plain", [0xff, 0xfe, 0x41, 0x41]), HttpStatusCode.BadRequest, "value");
        await AssertFieldAsync(await RawPutAsync(path + "NUL_VALUE", "text/plain", "ab\0cdef"u8.ToArray()), HttpStatusCode.BadRequest, "value");
        await AssertFieldAsync(await RawPutAsync(path + "SHORT", "text/plain", "abc"u8.ToArray()), HttpStatusCode.BadRequest, "value");
        using (var large = await RawPutAsync(path + "LARGE", "application/octet-stream", new byte[SecretBox.MaxValueBytes + 1]))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, large.StatusCode);
        }
        using (var json = await RawPutAsync(path + "JSON", "application/json", "\"abcdef\""u8.ToArray()))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.StatusCode);
        }
        var names = (await _farm.Owner.GetFromJsonAsync<List<SecretView>>(path))!.Select(s => s.Name).ToList();
        Assert.DoesNotContain("LARGE", names);
        Assert.DoesNotContain("JSON", names);
        Assert.DoesNotContain("SHORT", names);
    }

    [Fact]
    public async Task A_job_naming_a_secret_its_project_lacks_is_refused_at_submission_even_when_another_project_has_it()
    {
        Assert.Equal(HttpStatusCode.Created, await PutAsync(_farm.Owner, _farm.ProjectA, "ONLY_IN_A", "value-of-project-a"));
        var job = new JobDocument { Run = "true", Secrets = ["ONLY_IN_A"], Requires = new() { Queue = "secapi-nobody" } };

        using var refused = await _farm.OtherOwner.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument { Project = _farm.ProjectB, Jobs = new() { ["publish"] = job } });
        var body = await AssertFieldAsync(refused, HttpStatusCode.BadRequest, "jobs.publish.secrets");
        Assert.Contains("ONLY_IN_A", body, StringComparison.Ordinal);

        using var typo = await _farm.Owner.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Project = _farm.ProjectA,
            Jobs = new() { ["publish"] = job with { Secrets = ["ONLY_IN_AA"] } },
        });
        await AssertFieldAsync(typo, HttpStatusCode.BadRequest, "jobs.publish.secrets");

        using var accepted = await _farm.Owner.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument { Project = _farm.ProjectA, Jobs = new() { ["publish"] = job } });
        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
    }

    private async Task<HttpStatusCode> PutAsync(HttpClient client, string project, string name, string value)
    {
        using var response = await client.PutAsync($"/api/v1/projects/{project}/secrets/{name}", new StringContent(value, Encoding.UTF8, "text/plain"));
        _answers.Add(await response.Content.ReadAsStringAsync());
        return response.StatusCode;
    }

    private async Task<HttpStatusCode> SendAsync(HttpClient client, HttpMethod method, string path)
    {
        using var response = await client.SendAsync(new HttpRequestMessage(method, path));
        _answers.Add(await response.Content.ReadAsStringAsync());
        return response.StatusCode;
    }

    private async Task<HttpResponseMessage> RawPutAsync(string path, string contentType, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return await _farm.Owner.PutAsync(path, content);
    }

    private static async Task<string> AssertFieldAsync(HttpResponseMessage response, HttpStatusCode status, string field)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {status}, got {response.StatusCode}: {body}");
        Assert.Contains($"\"field\":\"{field}\"", body, StringComparison.Ordinal);
        return body;
    }
}
