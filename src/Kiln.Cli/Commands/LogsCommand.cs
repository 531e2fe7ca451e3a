using System.CommandLine;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln logs REF [-f]</c>: a job's log, as bytes to standard output. With <c>-f</c> it follows
/// the running attempt live (the server holds each read until output arrives) and moves on to
/// the next attempt if the job is retried, until the job is finished.
/// </summary>
public static class LogsCommand
{
    private const int FollowWaitSeconds = 20;
    private static readonly TimeSpan StartPoll = TimeSpan.FromSeconds(1);

    public static Command Create()
    {
        var target = new Argument<string>("ref") { Description = JobReference.Help };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the job finishes" };
        var attempt = new Option<int?>("--attempt", "-a") { Description = "Which attempt (default: the latest)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("logs", "Print a job's log.") { target, follow, attempt, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("logs", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var id = await JobReference.Parse(parse.GetValue(target)!).WorkRequestIdAsync(client, ct);
            await using var stdout = Console.OpenStandardOutput();
            if (parse.GetValue(json))
            {
                // The log is text, not JSON; --json describes it (size, attempt, completeness) instead.
                var info = await client.ReadLogAsync(id, parse.GetValue(attempt), long.MaxValue / 2, 0, Stream.Null, ct);
                CliRun.PrintJson(new { workRequestId = id, info.Attempt, info.Size, info.Complete });
                return 0;
            }
            await CopyAsync(client, id, parse.GetValue(attempt), parse.GetValue(follow), stdout, ct);
            return 0;
        }));
        return command;
    }

    public static async Task CopyAsync(KilnClient client, long id, int? fixedAttempt, bool follow, Stream output, CancellationToken ct)
    {
        var attempt = fixedAttempt ?? (await client.GetWorkRequestAsync(id, ct)).Summary.Attempt;
        long offset = 0;
        while (true)
        {
            if (attempt == 0)
            {
                // Not started yet: nothing to print unless following, then wait for the first attempt.
                if (!follow || (attempt = await NextAttemptAsync(client, id, 0, ct)) == 0)
                {
                    return;
                }
            }
            var read = await client.ReadLogAsync(id, attempt, offset, follow ? FollowWaitSeconds : 0, output, ct);
            offset += read.BytesRead;
            await output.FlushAsync(ct);
            if (!follow || fixedAttempt is not null && read.Complete && offset >= read.Size)
            {
                return;
            }
            if (read.Complete && offset >= read.Size)
            {
                var next = await NextAttemptAsync(client, id, attempt, ct);
                if (next == attempt)
                {
                    return;
                }
                await Console.Error.WriteLineAsync($"--- attempt {next} ---");
                attempt = next;
                offset = 0;
            }
        }
    }

    /// <summary>Waits until the job has an attempt after <paramref name="after"/> or is finished; returns the latest attempt.</summary>
    private static async Task<int> NextAttemptAsync(KilnClient client, long id, int after, CancellationToken ct)
    {
        while (true)
        {
            var summary = (await client.GetWorkRequestAsync(id, ct)).Summary;
            if (summary.Attempt > after && summary.State != "pending")
            {
                return summary.Attempt;
            }
            if (summary.State is "succeeded" or "failed" or "skipped" or "cancelled")
            {
                return summary.Attempt;
            }
            await Task.Delay(StartPoll, ct);
        }
    }
}
