namespace Kiln.Store.Engine;

/// <summary>
/// A worker's free text (a report's message) as the database will take it. The API edge
/// rejects U+0000 and bounds lengths; this keeps the engine whole if something slips through:
/// PostgreSQL refuses U+0000 in text, and one such report must not fail the batch it joins.
/// </summary>
internal static class ReportText
{
    public const int MaxChars = 4000;

    public static string? ForDatabase(string? text)
    {
        if (text is null)
        {
            return null;
        }
        if (text.Length > MaxChars)
        {
            text = text[..MaxChars];
        }
        return text.Contains('\0', StringComparison.Ordinal) ? text.Replace('\0', '\uFFFD') : text;
    }
}
