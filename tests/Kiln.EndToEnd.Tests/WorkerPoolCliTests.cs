using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary><c>kiln pool</c>, <c>kiln worker token</c>, <c>kiln worker approve</c> and <c>kiln project trust</c> through the real <c>kiln</c> executable.</summary>
public sealed class WorkerPoolCliTests(IsolatedServerFixture server) : IClassFixture<IsolatedServerFixture>
{
    [Fact]
    public async Task An_admin_makes_a_gated_pool_and_its_token_a_worker_enrols_waits_for_approval_and_a_revoked_token_stops_a_new_worker()
    {
        var url = server.Host.Url;
        var created = await KilnProcess.RunSplitAsync(["pool", "create", "cli-pool", "--queue", "cli-pool-q", "--approval-required", "true", "--server", url]);
        Assert.True(created.Exit == 0, created.Stderr);
        Assert.Contains("kiln worker token create --pool cli-pool", created.Stdout, StringComparison.Ordinal);

        var token = await KilnProcess.RunSplitAsync(["worker", "token", "create", "--pool", "cli-pool", "--expires", "30d", "--comment", "rack 3", "--server", url]);
        Assert.True(token.Exit == 0, token.Stderr);
        var secret = token.Stdout.Trim();
        Assert.StartsWith("kiln_reg_", secret, StringComparison.Ordinal);
        Assert.Contains("shown only now", token.Stderr, StringComparison.Ordinal);

        using (var register = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workers/register")
        {
            Content = JsonContent.Create(new RegisterWorkerRequest("cli-pooled", ["amd64"], [], ["cli-pool-q"], 1)),
        })
        {
            register.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
            using var registered = await server.AnonymousClient().SendAsync(register);
            registered.EnsureSuccessStatusCode();
        }
        var workers = await KilnProcess.RunSplitAsync(["workers", "--server", url]);
        Assert.Contains("cli-pool", workers.Stdout, StringComparison.Ordinal);
        Assert.Contains("awaiting approval", workers.Stdout, StringComparison.Ordinal);
        var approved = await KilnProcess.RunSplitAsync(["worker", "approve", "cli-pooled", "--server", url]);
        Assert.True(approved.Exit == 0, approved.Stderr);
        Assert.Contains("approved", approved.Stdout, StringComparison.Ordinal);

        var listed = await KilnProcess.RunSplitAsync(["worker", "token", "list", "--pool", "cli-pool", "--json", "--server", url]);
        var tokens = JsonSerializer.Deserialize<List<RegistrationTokenView>>(listed.Stdout, KilnClient.Json)!;
        var only = Assert.Single(tokens);
        Assert.Equal("rack 3", only.Comment);
        Assert.DoesNotContain(secret, listed.Stdout, StringComparison.Ordinal);

        var revoked = await KilnProcess.RunSplitAsync(["worker", "token", "revoke", only.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--server", url]);
        Assert.True(revoked.Exit == 0, revoked.Stderr);
        // A real worker process with the revoked token stops in one line saying why.
        var refused = await KilnProcess.RunSplitAsync(["worker", "--name", "cli-late", "--queue", "cli-pool-q", "--server", url],
            new Dictionary<string, string> { ["KILN_TOKEN"] = secret });
        Assert.Equal(1, refused.Exit);
        Assert.Contains("revoked", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.Stderr, StringComparison.Ordinal);

        var trust = await KilnProcess.RunSplitAsync(["project", "trust", "cli-trusting", "cli-pool", "--server", url]);
        Assert.Equal(1, trust.Exit);
        Assert.Contains("project 'cli-trusting' does not exist", trust.Stderr, StringComparison.Ordinal);
        var pools = await KilnProcess.RunSplitAsync(["pool", "list", "--json", "--server", url]);
        Assert.Contains(JsonSerializer.Deserialize<List<PoolView>>(pools.Stdout, KilnClient.Json)!, p => p.Name == "cli-pool" && p.ApprovalRequired && p.Workers == 1);
    }
}
