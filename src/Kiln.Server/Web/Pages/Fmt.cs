using System.Globalization;

namespace Kiln.Server.Web.Pages;

/// <summary>How the pages write times, durations and sizes.</summary>
public static class Fmt
{
    public static string Time(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "—";

    public static string Iso(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : "";

    /// <summary>From <paramref name="from"/> to <paramref name="to"/>, or to <paramref name="now"/> while it lasts.</summary>
    public static string Duration(DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now) =>
        from is { } a ? Span((to ?? now) - a) : "—";

    public static string Span(TimeSpan d) =>
        d.TotalSeconds < 60 ? $"{Math.Max(0, d.TotalSeconds):F0} s"
        : d.TotalMinutes < 60 ? $"{(int)d.TotalMinutes} min {d.Seconds} s"
        : $"{(int)d.TotalHours} h {d.Minutes} min";

    public static string Seconds(double? s) => s is { } v ? Span(TimeSpan.FromSeconds(v)) : "—";

    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:F1} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / 1024.0 / 1024:F1} MiB",
        _ => $"{bytes / 1024.0 / 1024 / 1024:F2} GiB",
    };

    public static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
