using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class StatusApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Healthz_answers_ok_and_readyz_answers_503_naming_a_missing_migration()
    {
        using var health = await server.Client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok", (await health.Content.ReadFromJsonAsync<HealthResponse>())!.Status);
        using (var ready = await server.Client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("ready", (await ready.Content.ReadFromJsonAsync<HealthResponse>())!.Status);
        }

        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        await using (var forget = db.CreateCommand("DELETE FROM schema_migrations WHERE version = '0003_leadership'"))
        {
            Assert.Equal(1, await forget.ExecuteNonQueryAsync());
        }
        try
        {
            using var notReady = await server.Client.GetAsync("/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
            Assert.Equal("application/problem+json", notReady.Content.Headers.ContentType?.MediaType);
            var problem = await notReady.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Contains("0003_leadership", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            var status = await StatusAsync();
            Assert.False(status.Database.MigrationsCurrent);
            Assert.Equal(["0003_leadership"], status.Database.MissingMigrations);
            Assert.Contains(status.Warnings, w => w.Contains("0003_leadership", StringComparison.Ordinal));
            // Liveness does not depend on the database.
            using var stillAlive = await server.Client.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, stillAlive.StatusCode);
        }
        finally
        {
            await using var restore = db.CreateCommand("INSERT INTO schema_migrations (version) VALUES ('0003_leadership')");
            await restore.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Status_shows_the_leader_since_when_and_its_fence_queue_counts_and_workers_online()
    {
        FarmStatus status = await StatusAsync();
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (status.Leadership.Leader is null && !deadline.IsCancellationRequested)
            {
                await Task.Delay(100);
                status = await StatusAsync();
            }
        }
        Assert.Equal(status.Replica.Id, status.Leadership.Leader);
        Assert.True(status.Replica.Leading);
        Assert.NotNull(status.Leadership.Since);
        Assert.True(status.Leadership.Fence >= 1);
        Assert.Equal(15, status.Leadership.BoundSeconds);
        Assert.True(status.Database.Reachable && status.Database.MigrationsCurrent);
        Assert.NotNull(status.Replica.ClockSkewMs);
        Assert.Empty(status.Warnings);

        var worker = await server.RegisterWorkerAsync("status-worker", queues: ["status-q"], slots: 2);
        var doc = new WorkflowDocument
        {
            Project = "status",
            Jobs = new()
            {
                ["a"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "status-q" } },
                ["b"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "status-q" } },
            },
        };
        using (var submitted = await server.Client.PostAsJsonAsync("/api/v1/workflows", doc))
        {
            submitted.EnsureSuccessStatusCode();
        }
        using (var claim = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 0)))
        {
            Assert.Single((await claim.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments);
        }

        status = await StatusAsync();
        var queue = Assert.Single(status.Queues, q => q.Name == "status-q");
        Assert.Equal(1, queue.Pending);
        Assert.Equal(1, queue.Running);
        Assert.NotNull(queue.OldestWaitSeconds);
        Assert.InRange(queue.OldestWaitSeconds!.Value, 0, 600);
        Assert.True(status.Workers.Online >= 1);
        Assert.True(status.Workers.BusySlots >= 1);
    }

    private async Task<FarmStatus> StatusAsync() =>
        (await server.Client.GetFromJsonAsync<FarmStatus>("/api/v1/status", KilnClient.Json))!;
}
