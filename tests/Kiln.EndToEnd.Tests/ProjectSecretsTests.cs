using Kiln.Contracts;
using Npgsql;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A project secret from <c>kiln secret set</c> (standard input) to a task on a real worker: the
/// task gets it in its environment, and whatever form it prints it in — raw, base64, URL-encoded —
/// the log the API serves shows <c>***</c>, never the value.
/// </summary>
public sealed class ProjectSecretsTests
{
    private const string Project = "e2e-secrets";
    private const string Value = "e2e p@ss/w0rd+Q";

    [Fact]
    public async Task A_secret_set_from_stdin_reaches_the_task_and_its_log_shows_stars_for_every_form_of_it()
    {
        await using var farm = await Farm.StartAsync(nameof(ProjectSecretsTests));
        await farm.Client.PutProjectAsync(Project, new ProjectSettings(null, null, null), CancellationToken.None);
        await using (var db = new NpgsqlConnection(farm.ConnectionString))
        {
            await db.OpenAsync();
            // The default pool (the farm's workers) is trusted by the project.
            await using var trust = new NpgsqlCommand(
                "INSERT INTO project_trusted_pools (project_id, pool_id) SELECT p.id, w.id FROM projects p, worker_pools w WHERE p.name = @p AND w.name = 'default'", db);
            trust.Parameters.AddWithValue("p", Project);
            Assert.Equal(1, await trust.ExecuteNonQueryAsync());
        }

        await using (var set = KilnProcess.Start(["secret", "set", Project, "E2E_SECRET", "--server", farm.Url]))
        {
            await set.StandardInput.WriteAsync(Value + "\n");
            set.StandardInput.Close();
            await set.WaitForExitAsync(TimeSpan.FromMinutes(2));
            Assert.True(set.ExitCode == 0, set.Output);
            Assert.DoesNotContain(Value, set.Output, StringComparison.Ordinal);
        }
        var (exit, listed, _) = await KilnProcess.RunSplitAsync(["secret", "list", Project, "--server", farm.Url, "--json"]);
        Assert.Equal(0, exit);
        Assert.Contains("\"E2E_SECRET\"", listed, StringComparison.Ordinal);
        Assert.DoesNotContain(Value, listed, StringComparison.Ordinal);

        farm.StartWorker("e2e-secret-worker");
        var submitted = await farm.Client.SubmitAsync(new WorkflowDocument
        {
            Project = Project,
            Jobs = new()
            {
                ["print"] = new JobDocument
                {
                    Secrets = ["E2E_SECRET"],
                    Run = """
                        urlencode() { s="$1"; out=""; while [ -n "$s" ]; do c="${s:0:1}"; s="${s:1}"; case "$c" in [A-Za-z0-9._~-]) out="$out$c";; *) out="$out$(printf '%%%02X' "'$c")";; esac; done; printf '%s' "$out"; }
                        echo "raw: $E2E_SECRET"
                        echo "b64: $(printf '%s' "$E2E_SECRET" | base64 -w0)"
                        echo "url: $(urlencode "$E2E_SECRET")"
                        echo "length: ${#E2E_SECRET}"
                        """,
                },
            },
        }, CancellationToken.None);
        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);
        Assert.True(workflow.State == "succeeded", farm.Diagnostics());

        var log = await farm.LogAsync(await farm.OnlyJobAsync(submitted.Id));
        Assert.Contains("raw: ***", log, StringComparison.Ordinal);
        Assert.Contains("b64: ***", log, StringComparison.Ordinal);
        Assert.Contains("url: ***", log, StringComparison.Ordinal);
        // The task got the value itself, its trailing newline from stdin dropped.
        Assert.Contains($"length: {Value.Length}", log, StringComparison.Ordinal);
        Assert.DoesNotContain(Value, log, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Value)), log, StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(Value), log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_secret_name_is_a_one_line_usage_error_before_anything_is_read_or_sent()
    {
        var (exit, stdout, stderr) = await KilnProcess.RunSplitAsync(["secret", "set", Project, "lower-case", "--server", "http://127.0.0.1:9"]);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("kiln secret set: 'lower-case' is not a secret name", line, StringComparison.Ordinal);
    }
}
