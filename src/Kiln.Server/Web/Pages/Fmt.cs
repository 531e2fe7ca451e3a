using System.Globalization;

namespace Kiln.Server.Web.Pages;

/// <summary>How the pages write times, durations and sizes.</summary>
public static class Fmt
{
    public static string Time(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "—";

    public static string Iso(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : "";

    public static string Duration(DateTimeOffset? from, DateTimeOffset? to)
    {
        if (from is not { } a)
        {
            return "—";
        }
        var d = (to ?? DateTimeOffset.UtcNow) - a;
        return d.TotalSeconds < 60 ? $"{Math.Max(0, d.TotalSeconds):F0} s"
            : d.TotalMinutes < 60 ? $"{(int)d.TotalMinutes} min {d.Seconds} s"
            : $"{(int)d.TotalHours} h {d.Minutes} min";
    }

    public static string Seconds(double? s) => s is { } v ? Duration(DateTimeOffset.UtcNow.AddSeconds(-v), DateTimeOffset.UtcNow) : "—";

    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:F1} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / 1024.0 / 1024:F1} MiB",
        _ => $"{bytes / 1024.0 / 1024 / 1024:F2} GiB",
    };

    public static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
