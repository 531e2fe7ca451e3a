using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RabbitMQ.Client;

namespace Kiln.Testing;

/// <summary>
/// A real RabbitMQ broker for the AMQP tests: <c>rabbitmq-server</c> run as a child process on
/// free loopback ports, its node, database and logs in a temporary directory. It can be killed
/// (SIGKILL) and started again on the same ports and data (durable queues and persistent
/// messages survive, as on a real broker's crash). Erlang's port mapper (epmd, shared by all
/// Erlang nodes of the machine) is started by the broker as usual and left running.
/// </summary>
public sealed class RabbitMqServer : IAsyncDisposable
{
    private const string ServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    private const string CtlScript = "/usr/lib/rabbitmq/bin/rabbitmqctl";

    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"kiln-rabbitmq-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private readonly string _node = $"kiln{Environment.ProcessId}x{Random.Shared.Next(1_000_000)}@localhost";
    private readonly int _distPort = FreePort();
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    /// <summary>The AMQP port (loopback), chosen when the object is made, kept across restarts.</summary>
    public int Port { get; } = FreePort();

    /// <summary>The broker's URL with its default user (guest, allowed from loopback only).</summary>
    public Uri Url => new($"amqp://guest:guest@127.0.0.1:{Port}/");

    public string Output => string.Join('\n', _output.TakeLast(60));

    /// <summary>Starts the broker (again, after <see cref="Kill"/>) and waits until it accepts AMQP connections.</summary>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (!File.Exists(ServerScript))
        {
            throw new InvalidOperationException($"{ServerScript} is missing: install RabbitMQ with 'apt-get install rabbitmq-server' (.ci/run does)");
        }
        Directory.CreateDirectory(_directory);
        var plugins = Path.Combine(_directory, "enabled_plugins");
        if (!File.Exists(plugins))
        {
            await File.WriteAllTextAsync(plugins, "[].\n");
        }
        var psi = new ProcessStartInfo(ServerScript) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        Configure(psi);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("rabbitmq-server did not start");
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) { _output.Enqueue(e.Data); } };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _output.Enqueue(e.Data); } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(120));
        var factory = new ConnectionFactory { Uri = Url, AutomaticRecoveryEnabled = false };
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"rabbitmq-server exited with {_process.ExitCode}:\n{Output}");
            }
            try
            {
                await using var connection = await factory.CreateConnectionAsync();
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }

    /// <summary>SIGKILL to the broker (the script and its Erlang VM): a crash, nothing flushed or closed.</summary>
    public async Task KillAsync()
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }
        // The Erlang VM by its own pid too: killing the script's tree alone has left it running.
        var pidFile = Path.Combine(_directory, "rabbitmq.pid");
        var vm = File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile)).Trim(), out var pid) ? pid : 0;
        process.Kill(entireProcessTree: true);
        if (vm > 0)
        {
            try
            {
                using var beam = Process.GetProcessById(vm);
                beam.Kill(entireProcessTree: true);
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
        await process.WaitForExitAsync();
        for (var i = 0; vm > 0 && i < 200 && Alive(vm); i++)
        {
            await Task.Delay(50);
        }
    }

    private static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return !stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Publishes one persistent message to <paramref name="exchange"/> (default amq.topic) with fedora-messaging's properties.</summary>
    public async Task PublishAsync(string topic, string body, string? messageId, string exchange = "amq.topic")
    {
        await using var connection = await new ConnectionFactory { Uri = Url }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var properties = new BasicProperties
        {
            MessageId = messageId,
            ContentType = "application/json",
            ContentEncoding = "utf-8",
            DeliveryMode = DeliveryModes.Persistent,
            Headers = new Dictionary<string, object?> { ["fedora_messaging_schema"] = "koji_fedoramessaging.tag.TagV1", ["sent-at"] = "2026-12-01T17:00:00+00:00" },
        };
        // Mandatory: a message no queue takes (a binding not there yet) fails the publish instead of vanishing.
        await channel.BasicPublishAsync(exchange, topic, mandatory: true, properties, Encoding.UTF8.GetBytes(body));
    }

    /// <summary>A queue's messages ready for delivery and delivered but not acknowledged (rabbitmqctl list_queues).</summary>
    public async Task<(long Ready, long Unacknowledged)> QueueAsync(string queue)
    {
        var (ready, unacknowledged, _) = await QueueStateAsync(queue);
        return (ready, unacknowledged);
    }

    /// <summary>How many consumers a queue has (rabbitmqctl list_queues).</summary>
    public async Task<long> ConsumersAsync(string queue) => (await QueueStateAsync(queue)).Consumers;

    private async Task<(long Ready, long Unacknowledged, long Consumers)> QueueStateAsync(string queue)
    {
        var psi = new ProcessStartInfo(CtlScript) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        Configure(psi);
        foreach (var a in new[] { "-n", _node, "-q", "list_queues", "name", "messages_ready", "messages_unacknowledged", "consumers" })
        {
            psi.ArgumentList.Add(a);
        }
        using var ctl = Process.Start(psi)!;
        var stdout = ctl.StandardOutput.ReadToEndAsync();
        var stderr = ctl.StandardError.ReadToEndAsync();
        await ctl.WaitForExitAsync();
        if (ctl.ExitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl list_queues failed ({ctl.ExitCode}): {await stderr}");
        }
        foreach (var line in (await stdout).Split('\n'))
        {
            var parts = line.Split('\t');
            if (parts.Length == 4 && parts[0] == queue)
            {
                var invariant = System.Globalization.CultureInfo.InvariantCulture;
                return (long.Parse(parts[1], invariant), long.Parse(parts[2], invariant), long.Parse(parts[3], invariant));
            }
        }
        throw new InvalidOperationException($"queue {queue} does not exist:\n{await stdout}");
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Everything the broker reads from its environment, pointed into its own directory (never /etc/rabbitmq or /var/lib/rabbitmq).</summary>
    private void Configure(ProcessStartInfo psi)
    {
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        psi.Environment["HOME"] = _directory; // the Erlang cookie goes here
        psi.Environment["LC_ALL"] = "C.UTF-8";
        psi.Environment["RABBITMQ_NODENAME"] = _node;
        psi.Environment["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1";
        psi.Environment["RABBITMQ_NODE_PORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["RABBITMQ_DIST_PORT"] = _distPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["RABBITMQ_MNESIA_BASE"] = Path.Combine(_directory, "mnesia");
        psi.Environment["RABBITMQ_LOG_BASE"] = Path.Combine(_directory, "log");
        psi.Environment["RABBITMQ_LOGS"] = "-";
        psi.Environment["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(_directory, "rabbitmq-env.conf");
        psi.Environment["RABBITMQ_CONFIG_FILE"] = Path.Combine(_directory, "rabbitmq");
        psi.Environment["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(_directory, "advanced.config");
        psi.Environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_directory, "enabled_plugins");
        psi.Environment["RABBITMQ_PID_FILE"] = Path.Combine(_directory, "rabbitmq.pid");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
