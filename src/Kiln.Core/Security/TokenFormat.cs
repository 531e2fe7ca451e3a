using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace Kiln.Core.Security;

/// <summary>What a token is for; the kind is written into the token itself.</summary>
public enum TokenKind
{
    /// <summary><c>kiln_pat_…</c>: a user's API token (CLI, scripts, the web interface).</summary>
    Api,

    /// <summary><c>kiln_reg_…</c>: a worker registration token (enrols workers into one pool).</summary>
    Registration,

    /// <summary><c>kiln_wrk_…</c>: one worker's own secret, returned when it registers.</summary>
    Worker,
}

/// <summary>
/// Kiln's token format, <c>kiln_&lt;kind&gt;_&lt;random&gt;&lt;checksum&gt;</c>: 32 random bytes in
/// base62 (43 characters), then a 6-character base62 CRC-32 of everything before it. The fixed
/// prefix lets secret scanners find leaked tokens (as GitHub's <c>ghp_</c> and GitLab's
/// <c>glpat-</c> do), and the checksum lets them — and the server — reject a mistyped or
/// made-up token without a database lookup. Only the SHA-256 of a token is ever stored.
/// </summary>
public static class TokenFormat
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const int RandomBytes = 32;
    private const int RandomChars = 43;
    private const int ChecksumChars = 6;

    /// <summary>Length of every token: prefix (9) + random (43) + checksum (6).</summary>
    public const int Length = 9 + RandomChars + ChecksumChars;

    /// <summary>How many leading characters lists show to tell tokens apart (prefix + 4).</summary>
    public const int DisplayPrefixLength = 13;

    public static string Prefix(TokenKind kind) => kind switch
    {
        TokenKind.Api => "kiln_pat_",
        TokenKind.Registration => "kiln_reg_",
        TokenKind.Worker => "kiln_wrk_",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>A new token of <paramref name="kind"/> from the system's cryptographic generator.</summary>
    public static string New(TokenKind kind)
    {
        var body = Prefix(kind) + Base62(RandomNumberGenerator.GetBytes(RandomBytes), RandomChars);
        return body + Checksum(body);
    }

    /// <summary>The kind of a well-formed token (right prefix, length, alphabet and checksum), else null.</summary>
    public static TokenKind? KindOf(string? token)
    {
        if (token is null || token.Length != Length || !token.StartsWith("kiln_", StringComparison.Ordinal))
        {
            return null;
        }
        TokenKind? kind = token[..9] switch
        {
            "kiln_pat_" => TokenKind.Api,
            "kiln_reg_" => TokenKind.Registration,
            "kiln_wrk_" => TokenKind.Worker,
            _ => null,
        };
        if (kind is null)
        {
            return null;
        }
        for (var i = 9; i < Length; i++)
        {
            if (!Alphabet.Contains(token[i], StringComparison.Ordinal))
            {
                return null;
            }
        }
        var body = token[..^ChecksumChars];
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Checksum(body)), Encoding.ASCII.GetBytes(token[^ChecksumChars..]))
            ? kind
            : null;
    }

    /// <summary>What is stored and looked up: SHA-256 of the token's text.</summary>
    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>The first characters, for lists (<c>kiln_pat_AbCd</c>).</summary>
    public static string DisplayPrefix(string token) => token[..Math.Min(DisplayPrefixLength, token.Length)];

    private static string Checksum(string body) =>
        Base62(BitConverter.GetBytes(Crc32(Encoding.ASCII.GetBytes(body))), ChecksumChars);

    /// <summary>CRC-32 (IEEE 802.3, as zlib), bitwise: tokens are short.</summary>
    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }
        return ~crc;
    }

    private static string Base62(byte[] bytes, int width)
    {
        var value = new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
        var chars = new char[width];
        for (var i = width - 1; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value % 62)];
            value /= 62;
        }
        return new string(chars);
    }
}
