using Kiln.Contracts;
using Kiln.Store.Events;

namespace Kiln.Server.Hooks.Koji;

/// <summary>The event a Koji message is stored as, whichever way it came (REST or AMQP).</summary>
public static class KojiEvents
{
    /// <summary>
    /// A tag or untag message is <c>received</c> (the rules see it); another topic is stored
    /// <c>ignored</c>; an unreadable message (AMQP only: REST answers 400 instead) is
    /// <c>rejected</c> without a delivery key, so it never occupies the id a good copy may come with.
    /// </summary>
    public static NewEvent New(string id, string topic, KojiMessage.Reading reading, IReadOnlyDictionary<string, string> headers, byte[]? body, string? remote)
    {
        if (!reading.IsValid)
        {
            var why = string.Join("; ", reading.Errors.Take(5).Select(e => e.Field.Length == 0 ? e.Message : $"{e.Field}: {e.Message}"));
            return new NewEvent(EventSources.Koji, null, reading.Type ?? "unknown", EventStates.Rejected, reading.Facts, headers,
                body is { Length: <= KojiMessage.MaxBodyBytes } ? body : null, [], remote,
                [new EventEffect(EventEffectKinds.Rejected, $"message {id} is malformed: {why}")]);
        }
        if (reading.Type is null)
        {
            return new NewEvent(EventSources.Koji, id, TypeOfIgnored(topic), EventStates.Ignored, reading.Facts, headers, body, [], remote,
                [new EventEffect(EventEffectKinds.Ignored, $"topic {topic} is not a Koji tag message (buildsys.tag or buildsys.untag)")]);
        }
        return new NewEvent(EventSources.Koji, id, reading.Type, EventStates.Received, reading.Facts, headers, body, [], remote);
    }

    /// <summary>An ignored message's type: its topic from <c>buildsys.</c> on (buildsys.build.state.change), else the whole topic; at most 100 characters (events.event_type).</summary>
    private static string TypeOfIgnored(string topic)
    {
        var at = topic.IndexOf(".buildsys.", StringComparison.Ordinal);
        var type = at >= 0 ? topic[(at + 1)..] : topic;
        return type.Length <= 100 ? type : type[..100];
    }
}
