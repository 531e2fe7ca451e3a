namespace Kiln.EndToEnd.Tests;

/// <summary>Logs stream while tasks run, can be followed live, and a very large log goes through intact.</summary>
public sealed class LogStreamingTests
{
    private const long LargeLogBytes = 200L * 1000 * 1000;

    [Fact]
    public async Task Logs_follow_prints_a_task_live_from_before_it_starts_until_it_ends()
    {
        await using var farm = await Farm.StartAsync(nameof(Logs_follow_prints_a_task_live_from_before_it_starts_until_it_ends));
        var submitted = await farm.SubmitAsync("ticker", "for i in 1 2 3 4 5; do echo \"tick $i\"; sleep 0.3; done");

        // Started while the job is still pending (no worker yet): it waits for the first attempt.
        await using var follower = KilnProcess.Start(["logs", "-f", $"{submitted.Id}/job", "--server", farm.Url]);
        farm.StartWorker("e2e-ticker");
        await follower.WaitForExitAsync(Farm.Patience);

        Assert.Equal(0, follower.ExitCode);
        var output = follower.Output;
        for (var i = 1; i <= 5; i++)
        {
            Assert.Contains($"tick {i}", output, StringComparison.Ordinal);
        }
        Assert.Contains("[kiln] result: succeeded", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_200_MB_log_is_stored_whole_and_read_back_in_full()
    {
        await using var farm = await Farm.StartAsync(nameof(A_200_MB_log_is_stored_whole_and_read_back_in_full));
        farm.StartWorker("e2e-chatty");
        var submitted = await farm.SubmitAsync("chatty",
            $"head -c {LargeLogBytes} < <(yes 'a line of build output, repeated until the log is two hundred megabytes long'); echo; echo last line");
        var job = await farm.OnlyJobAsync(submitted.Id);

        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);

        Assert.True(workflow.State == "succeeded", farm.Diagnostics());
        var counter = new CountingStream();
        var read = await farm.Client.ReadLogAsync(job, null, 0, 0, counter, CancellationToken.None);
        Assert.True(read.Complete);
        Assert.Equal(read.Size, counter.Length);
        Assert.InRange(read.Size, LargeLogBytes, LargeLogBytes + 4096);
        using var tail = new MemoryStream();
        await farm.Client.ReadLogAsync(job, null, read.Size - 200, 0, tail, CancellationToken.None);
        Assert.Contains("last line", System.Text.Encoding.UTF8.GetString(tail.ToArray()), StringComparison.Ordinal);
    }

    /// <summary>Counts what is written, keeps nothing.</summary>
    private sealed class CountingStream : Stream
    {
        private long _length;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _length += count;
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _length += buffer.Length;
            return ValueTask.CompletedTask;
        }
    }
}
