using Microsoft.AspNetCore.Http;

namespace Kiln.Testing;

/// <summary>The fake forge's misbehaviour on status writes (H2 fills this in).</summary>
public sealed class FakeForgeStatusFaults
{
    /// <summary>Applies the configured faults to one status write; true when it answered the request itself (the write is then not accepted).</summary>
    internal Task<bool> ApplyAsync(HttpContext http) => Task.FromResult(false);
}
