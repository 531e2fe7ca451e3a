namespace Kiln.Contracts;

/// <summary>An operator notice: an incident or maintenance users should hear about.</summary>
/// <param name="Severity"><c>info</c>, <c>warning</c> or <c>critical</c>.</param>
/// <param name="Text">One line for people (at most 500 characters, no control characters).</param>
/// <param name="StartsAt">When it starts being shown.</param>
/// <param name="EndsAt">When it stops being shown by itself; null until cleared.</param>
public sealed record NoticeView(long Id, string Severity, string Text, DateTimeOffset StartsAt, DateTimeOffset? EndsAt, DateTimeOffset CreatedAt);

/// <summary>A notice to post (<c>POST /api/v1/notices</c>); <see cref="StartsAt"/> defaults to now.</summary>
public sealed record PostNoticeRequest(string Severity, string Text, DateTimeOffset? StartsAt, DateTimeOffset? EndsAt);
