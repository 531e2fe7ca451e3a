namespace Kiln.Testing;

/// <summary>A request the <see cref="FakeForge"/>'s API received (the request log).</summary>
public sealed record ForgeRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, byte[] Body, DateTimeOffset At, int Status);
