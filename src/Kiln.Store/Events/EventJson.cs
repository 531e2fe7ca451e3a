using System.Text.Json;
using System.Text.Json.Serialization;
using Kiln.Contracts;

namespace Kiln.Store.Events;

/// <summary>How facts and effects are kept in <c>events.facts</c> and <c>events.effects</c>: camelCase, nulls left out.</summary>
public static class EventJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Facts(EventFacts facts) => JsonSerializer.Serialize(facts, Options);

    public static EventFacts ReadFacts(string json) => JsonSerializer.Deserialize<EventFacts>(json, Options) ?? new EventFacts();

    public static string Effects(IEnumerable<EventEffect> effects) => JsonSerializer.Serialize(effects, Options);

    public static IReadOnlyList<EventEffect> ReadEffects(string json) => JsonSerializer.Deserialize<List<EventEffect>>(json, Options) ?? [];
}
