namespace Kiln.Testing;

/// <summary>One delivery the <see cref="FakeForge"/> made (or, for a dropping hook, failed to make).</summary>
/// <param name="Id">The forge's id of this attempt (GitHub's delivery id; a redelivery has its own).</param>
/// <param name="Guid">The delivery's GUID (X-GitHub-Delivery, X-Forgejo-Delivery, GitLab's Idempotency-Key): the same on a redelivery.</param>
/// <param name="StatusCode">What Kiln answered; 0 when it was not sent (dropped) or the connection failed.</param>
public sealed record FakeDelivery(
    long Id, string Guid, FakeHook Hook, string Event, string? Action, byte[] Body, IReadOnlyDictionary<string, string> Headers,
    DateTimeOffset DeliveredAt, int StatusCode, string ResponseBody, bool Redelivery)
{
    public bool Succeeded => StatusCode is >= 200 and < 300;
}
