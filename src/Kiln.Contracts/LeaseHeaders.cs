namespace Kiln.Contracts;

/// <summary>HTTP header names of a worker's fenced writes that carry no JSON body (log appends, artifact content).</summary>
public static class LeaseHeaders
{
    /// <summary>The lease token of the attempt the write belongs to; checked with the worker's identity.</summary>
    public const string LeaseToken = "Kiln-Lease-Token";
}
