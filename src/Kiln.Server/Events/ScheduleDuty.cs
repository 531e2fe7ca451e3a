using System.Globalization;
using Kiln.Contracts;
using Kiln.Core.Triggers;
using Kiln.Server.Duties;
using Kiln.Store.Database;
using Kiln.Store.Events;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Events;

/// <summary>
/// Schedule rules (<c>source: schedule</c>, a cron expression in UTC): on each duty tick, a rule whose
/// next slot has come gets one <c>schedule</c> event, stored like any other under the delivery key
/// <c>schedule:RULE:SLOT</c> — so two leaders for a moment still make one — and processed by the
/// rules like any other. Slots missed while no server ran are not made up one by one: the latest
/// one is taken (a nightly build after a weekend's outage runs once, not three times).
/// </summary>
public sealed partial class ScheduleDuty(TriggerStore triggers, EventStore events, TimeProvider time, ILogger<ScheduleDuty> logger) : ILeaderDuty
{
    /// <summary>How far back a missed slot is looked for.</summary>
    private static readonly TimeSpan Lookback = TimeSpan.FromDays(1);

    public string Name => "schedule triggers";

    public Task RunAsync(LeaderLease leader, CancellationToken ct) => RunOnceAsync(() => leader.MayRunDuties, ct);

    /// <summary>Stores the event of every schedule rule whose slot has come; <paramref name="mayRun"/> false stops between rules.</summary>
    public async Task RunOnceAsync(Func<bool> mayRun, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        foreach (var rule in await triggers.ScheduleRulesAsync(ct))
        {
            if (!mayRun())
            {
                return;
            }
            if (rule.Definition.Schedule is not { } text || TriggerRules.Cron(text) is not { } cron)
            {
                continue;
            }
            var from = rule.LastScheduledAt is { } last && last > now - Lookback ? last : now - Lookback;
            DateTimeOffset? slot = null;
            foreach (var occurrence in cron.GetOccurrences(from.UtcDateTime, now.UtcDateTime, fromInclusive: false, toInclusive: true))
            {
                slot = new DateTimeOffset(occurrence, TimeSpan.Zero);
            }
            if (slot is not { } due)
            {
                continue;
            }
            var key = $"schedule:{rule.Id}:{due.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}";
            var stored = await events.InsertAsync(new NewEvent(
                EventSources.Schedule, key, EventTypes.Schedule, EventStates.Received,
                new EventFacts { Project = rule.Project, Rule = rule.Name, Slot = due },
                new Dictionary<string, string>(), null, [], null), ct);
            await triggers.MarkScheduledAsync(rule.Id, due, ct);
            if (!stored.Duplicate)
            {
                LogScheduled(logger, rule.Project, rule.Name, due, stored.EventId);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule rule {Project}/{Rule}: slot {Slot:u} is event {EventId}")]
    private static partial void LogScheduled(ILogger logger, string project, string rule, DateTimeOffset slot, long eventId);
}
