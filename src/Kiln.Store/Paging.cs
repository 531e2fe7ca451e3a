using System.Globalization;
using Kiln.Contracts;

namespace Kiln.Store;

/// <summary>Keyset pages: queries fetch limit + 1 rows; the extra row only says another page exists.</summary>
internal static class Paging
{
    public static Page<T> Of<T>(List<T> items, int limit, Func<T, long> id) =>
        items.Count > limit
            ? new Page<T>(items.Take(limit).ToList(), id(items[limit - 1]).ToString(CultureInfo.InvariantCulture))
            : new Page<T>(items, null);
}
