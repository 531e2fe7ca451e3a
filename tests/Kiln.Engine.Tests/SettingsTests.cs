using Kiln.Store.Settings;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class SettingsTests
{
    [Fact]
    public async Task Replicas_starting_together_for_the_first_time_all_read_the_one_stored_token()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("settings"));
        for (var round = 0; round < 20; round++)
        {
            var key = $"token-{round}";
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var replicas = Enumerable.Range(0, 8).Select(async replica =>
            {
                var store = new SettingsStore(db);
                await start.Task;
                return await store.GetOrCreateAsync(key, () => $"value-of-replica-{replica}", default);
            }).ToList();
            start.SetResult();
            var answers = await Task.WhenAll(replicas);
            Assert.All(answers, a => Assert.NotNull(a));
            Assert.Single(answers.Distinct());
            await using var stored = db.CreateCommand("SELECT value FROM settings WHERE key = $1");
            stored.Parameters.Add(new NpgsqlParameter { Value = key });
            Assert.Equal(answers[0], (string)(await stored.ExecuteScalarAsync())!);
        }
    }
}
