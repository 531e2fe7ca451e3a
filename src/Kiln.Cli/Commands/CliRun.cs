using System.Net.Sockets;
using System.Text.Json;
using Kiln.Cli.Workflows;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary>
/// Runs a client command so that every failure is one clear line on standard error and a
/// non-zero exit code: 1 for a refusal or failure, 2 for a usage error, 3 when the server cannot
/// be reached. No stack traces for user errors.
/// </summary>
public static class CliRun
{
    public const int Unreachable = 3;

    /// <param name="serverOption">The <c>--server</c> value, resolved through <see cref="ClientSettings"/> for <paramref name="body"/>.</param>
    public static async Task<int> GuardAsync(string command, string? serverOption, Func<Uri, Task<int>> body)
    {
        Uri? server = null;
        Views.FitConsole();
        KilnClient.NoticeObserver ??= PrintNoticeOnce;
        try
        {
            server = ClientSettings.Server(serverOption);
            return await body(server);
        }
        catch (CliException e)
        {
            return Fail(command, e.Message, e.ExitCode);
        }
        catch (WorkflowFileException e)
        {
            return Fail(command, e.Message, 1);
        }
        catch (KilnApiException e)
        {
            return Fail(command, e.Message, 1);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            var why = e.InnerException?.InnerException?.Message ?? e.InnerException?.Message ?? e.Message;
            return Fail(command, $"no TLS (https) connection to {server}: {why.TrimEnd('.')}; a farm started by 'kiln up' or 'kiln server' speaks plain http:// unless it was given --tls-cert or a proxy adds TLS", Unreachable);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException or IOException || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            return Fail(command, $"cannot reach the Kiln server at {server} ({e.Message}); start one with 'kiln up' or set --server / KILN_URL", Unreachable);
        }
        catch (HttpRequestException e)
        {
            return Fail(command, $"request to {server} failed: {e.Message}", Unreachable);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return Fail(command, e.Message, 1);
        }
        catch (OperationCanceledException)
        {
            return Fail(command, $"the server at {server} did not answer in time", Unreachable);
        }
    }

    public static int Fail(string command, string message, int code)
    {
        Console.Error.WriteLine($"kiln {command}: {message}");
        return code;
    }

    public static void PrintJson<T>(T value)
    {
        Console.Out.WriteLine(JsonSerializer.Serialize(value, Indented));
    }

    /// <summary>The answer to cancel, retry or priority: JSON for scripts, its message for people.</summary>
    public static int PrintAction(ActionResponse answer, bool json)
    {
        if (json)
        {
            PrintJson(answer);
        }
        else
        {
            Console.Out.WriteLine(answer.Message);
        }
        return 0;
    }

    /// <summary>
    /// An operator notice the server sent (the <c>Kiln-Notice</c> header), printed on standard
    /// error at most once per command run — never on standard output, so <c>--json</c> stays clean.
    /// </summary>
    private static void PrintNoticeOnce(string notice)
    {
        if (Interlocked.Exchange(ref _noticeShown, 1) == 0)
        {
            Console.Error.WriteLine($"kiln: notice: {notice}");
        }
    }

    /// <summary>For commands that show notices themselves (<c>kiln notice …</c>): do not print the header's copy too.</summary>
    public static void NoticeShownAlready() => Interlocked.Exchange(ref _noticeShown, 1);

    private static int _noticeShown;

    private static readonly JsonSerializerOptions Indented = new(KilnClient.Json) { WriteIndented = true };

    /// <summary>Every item of a keyset-paginated list, page after page (<paramref name="page"/> gets the cursor).</summary>
    public static async Task<List<T>> AllPagesAsync<T>(Func<string?, Task<Page<T>>> page)
    {
        var items = new List<T>();
        string? after = null;
        do
        {
            var next = await page(after);
            items.AddRange(next.Items);
            after = next.Next;
        }
        while (after is not null);
        return items;
    }
}
