using System.Globalization;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;

namespace Kiln.Server.Hooks.Koji;

/// <summary>
/// A Koji <c>buildsys.tag</c>/<c>buildsys.untag</c> message as fedora-messaging carries it (its id,
/// its topic, its JSON body), read into <see cref="EventFacts"/>. The REST intake and the AMQP
/// consumer both come through here, so a message means the same whichever way it arrived and
/// dedupes across both (source <c>koji</c>, delivery key = the message id).
/// </summary>
public static class KojiMessage
{
    /// <summary>Largest message body accepted (a Koji tag message is a few hundred bytes).</summary>
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>Longest message id (fedora-messaging's are UUIDs); the events table allows 200.</summary>
    public const int MaxIdLength = 200;

    /// <summary>Longest topic (org.fedoraproject.prod.buildsys.tag is 35).</summary>
    public const int MaxTopicLength = 255;

    /// <summary>Longest text field of the body (an NVR part, a tag, a user name).</summary>
    public const int MaxFieldLength = 255;

    private const string TagSuffix = ".buildsys.tag";
    private const string UntagSuffix = ".buildsys.untag";

    /// <summary>What a message was read as: a type and facts, or the problems that make it unusable (each naming its field).</summary>
    public sealed record Reading(string? Type, EventFacts Facts, IReadOnlyList<ValidationError> Errors)
    {
        public bool IsValid => Errors.Count == 0;

        /// <summary>A topic other than buildsys.tag/untag: stored as ignored.</summary>
        public bool IsIgnoredTopic => IsValid && Type is null;
    }

    /// <summary>The event type a topic stands for (…buildsys.tag / …buildsys.untag, any prefix), or null for another topic.</summary>
    public static string? TypeOf(string topic) =>
        topic == EventTypes.KojiTag || topic.EndsWith(TagSuffix, StringComparison.Ordinal) ? EventTypes.KojiTag
        : topic == EventTypes.KojiUntag || topic.EndsWith(UntagSuffix, StringComparison.Ordinal) ? EventTypes.KojiUntag
        : null;

    /// <summary>Checks a message id (the delivery key); null when acceptable.</summary>
    public static string? IdProblem(string? id) =>
        string.IsNullOrWhiteSpace(id) ? "is required (the fedora-messaging message id)"
        : id.Length > MaxIdLength ? $"at most {MaxIdLength} characters (this has {id.Length})"
        : SafeText.Problem(id, multiline: false);

    /// <summary>Checks a topic; null when acceptable.</summary>
    public static string? TopicProblem(string? topic) =>
        string.IsNullOrWhiteSpace(topic) ? "is required (e.g. org.fedoraproject.prod.buildsys.tag)"
        : topic.Length > MaxTopicLength ? $"at most {MaxTopicLength} characters (this has {topic.Length})"
        : SafeText.Problem(topic, multiline: false);

    /// <summary>
    /// Reads a message body. <paramref name="fieldPrefix"/> is how the body is named in errors
    /// (<c>body.</c> for the REST envelope, empty for an AMQP body). Fields Koji may add later are
    /// ignored; the ones Kiln reads must have their documented types.
    /// </summary>
    public static Reading Read(string topic, JsonElement body, string fieldPrefix)
    {
        var errors = new List<ValidationError>();
        var type = TypeOf(topic);
        if (body.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new(fieldPrefix.TrimEnd('.'), "must be a JSON object (the Koji message body)"));
            return new Reading(type, new EventFacts(), errors);
        }
        if (type is null)
        {
            // Not a message Kiln acts on: nothing of its body is read.
            return new Reading(null, new EventFacts(), errors);
        }
        var buildId = Integer(body, "build_id", fieldPrefix, required: true, errors);
        var name = Text(body, "name", fieldPrefix, required: true, errors);
        var version = Text(body, "version", fieldPrefix, required: true, errors);
        var release = Text(body, "release", fieldPrefix, required: true, errors);
        var tag = Text(body, "tag", fieldPrefix, required: true, errors);
        Integer(body, "tag_id", fieldPrefix, required: false, errors);
        var user = Text(body, "user", fieldPrefix, required: false, errors);
        var owner = Text(body, "owner", fieldPrefix, required: false, errors);
        var instance = Text(body, "instance", fieldPrefix, required: false, errors);
        var facts = new EventFacts
        {
            BuildId = buildId,
            Package = name,
            Version = version,
            Release = release,
            KojiTag = tag,
            Sender = user,
            Owner = owner,
            Instance = instance,
        };
        return new Reading(type, facts, errors);
    }

    /// <summary>Reads raw body bytes (an AMQP message); a body that is not JSON is one problem naming the body.</summary>
    public static Reading Read(string topic, ReadOnlyMemory<byte> body)
    {
        if (body.Length > MaxBodyBytes)
        {
            return new Reading(TypeOf(topic), new EventFacts(), [new("body", $"at most {MaxBodyBytes} bytes (this has {body.Length})")]);
        }
        try
        {
            using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 32 });
            return Read(topic, document.RootElement, "");
        }
        catch (JsonException e)
        {
            return new Reading(TypeOf(topic), new EventFacts(), [new("body", $"is not JSON: {Shorten(e.Message)}")]);
        }
    }

    private static long? Integer(JsonElement body, string name, string prefix, bool required, List<ValidationError> errors)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                errors.Add(new(prefix + name, "is required (an integer)"));
            }
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var number) || number < 0)
        {
            errors.Add(new(prefix + name, "must be a non-negative integer"));
            return null;
        }
        return number;
    }

    private static string? Text(JsonElement body, string name, string prefix, bool required, List<ValidationError> errors)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                errors.Add(new(prefix + name, "is required (a string)"));
            }
            return null;
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add(new(prefix + name, "must be a string"));
            return null;
        }
        var text = value.GetString()!;
        var problem = text.Length == 0 && required ? "must not be empty"
            : text.Length > MaxFieldLength ? $"at most {MaxFieldLength.ToString(CultureInfo.InvariantCulture)} characters (this has {text.Length.ToString(CultureInfo.InvariantCulture)})"
            : SafeText.Problem(text, multiline: false);
        if (problem is not null)
        {
            errors.Add(new(prefix + name, problem));
            return null;
        }
        return text;
    }

    private static string Shorten(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
