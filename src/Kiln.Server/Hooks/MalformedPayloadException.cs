namespace Kiln.Server.Hooks;

/// <summary>A delivery's payload lacks what its event type must carry, or carries it in a form Kiln refuses (a 400, stored as a rejected event).</summary>
internal sealed class MalformedPayloadException(string field, string message) : Exception($"{field}: {message}")
{
    /// <summary>Where in the payload, as a dotted path (<c>repository.full_name</c>).</summary>
    public string Field { get; } = field;

    public string Reason { get; } = message;
}
