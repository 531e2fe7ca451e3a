using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Kiln.Testing;

/// <summary>One POST the receiver took: its Standard Webhooks headers, its body, and whether the signature verified.</summary>
public sealed record ReceivedWebhook(string? Id, string? Timestamp, string? Signature, string? UserAgent, string? ContentType, byte[] Body, bool Verified, int Answered)
{
    public string Text => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// A webhook receiver on 127.0.0.1 (a real HTTP server): records every POST and verifies its
/// signature with <see cref="Secret"/> by its own code, following the Standard Webhooks
/// specification (HMAC-SHA256 over "id.timestamp.body", keyed with the base64 after whsec_).
/// <see cref="Answers"/> holds status codes to answer in turn (then 200).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly List<ReceivedWebhook> _received = [];
    private readonly Queue<int> _answers = new();
    private WebApplication? _app;

    public string Url { get; private set; } = "";

    /// <summary>The subscription's secret (whsec_…), set by the test from the create answer.</summary>
    public string? Secret { get; set; }

    public IReadOnlyList<ReceivedWebhook> Received { get { lock (_gate) { return [.. _received]; } } }

    /// <summary>Answer the next POSTs with these codes, then 200.</summary>
    public void Answers(params int[] codes)
    {
        lock (_gate)
        {
            foreach (var c in codes)
            {
                _answers.Enqueue(c);
            }
        }
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        receiver._app = app;
        receiver.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/hook";
        return receiver;
    }

    /// <summary>The Standard Webhooks check, written here independently of Kiln's code.</summary>
    public static bool Verify(string secret, string? id, string? timestamp, string? signature, byte[] body)
    {
        if (id is null || timestamp is null || signature is null || !secret.StartsWith("whsec_", StringComparison.Ordinal))
        {
            return false;
        }
        using var hmac = new HMACSHA256(Convert.FromBase64String(secret["whsec_".Length..]));
        var signed = Encoding.UTF8.GetBytes(id + "." + timestamp + ".").Concat(body).ToArray();
        var expected = Convert.ToBase64String(hmac.ComputeHash(signed));
        return signature.Split(' ').Any(s => s.StartsWith("v1,", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s[3..]), Encoding.ASCII.GetBytes(expected)));
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var h = context.Request.Headers;
        string? Get(string name) => h.TryGetValue(name, out var v) ? v.ToString() : null;
        int code;
        lock (_gate)
        {
            code = _answers.Count > 0 ? _answers.Dequeue() : 200;
            var verified = Secret is { } s && Verify(s, Get("webhook-id"), Get("webhook-timestamp"), Get("webhook-signature"), body);
            _received.Add(new ReceivedWebhook(Get("webhook-id"), Get("webhook-timestamp"), Get("webhook-signature"), Get("User-Agent"),
                context.Request.ContentType, body, verified, code));
        }
        context.Response.StatusCode = code;
        await context.Response.WriteAsync(code == 200 ? "ok" : "not now");
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
