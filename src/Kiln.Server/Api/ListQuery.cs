using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Api;

/// <summary>Keyset pagination parameters shared by every list: <c>limit</c> (1–500, default 50) and <c>after</c> (the previous page's <c>next</c>).</summary>
public static class ListQuery
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 500;

    public static (int Limit, long? After, IResult? Problem) Parse(string? limit, string? after)
    {
        var n = DefaultLimit;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out n) || n < 1 || n > MaxLimit))
        {
            return (0, null, ApiProblems.Invalid("limit", $"must be a whole number from 1 to {MaxLimit}"));
        }
        long? cursor = null;
        if (after is not null)
        {
            if (!long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out var a))
            {
                return (0, null, ApiProblems.Invalid("after", "must be the 'next' value of a previous page"));
            }
            cursor = a;
        }
        return (n, cursor, null);
    }
}
