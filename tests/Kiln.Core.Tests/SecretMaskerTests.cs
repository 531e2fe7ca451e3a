using System.Net;
using System.Text;
using System.Text.Json;
using Kiln.Core;

namespace Kiln.Core.Tests;

/// <summary>Secrets a task prints, raw or in a common encoding, never reach the server's copy of its log.</summary>
public sealed class SecretMaskerTests
{
    private const string Secret = "hunter2-Sup3r/s3cret+key?";

    /// <summary>As jq and JavaScript write JSON: only quotes, backslashes and control characters escaped.</summary>
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string MaskAll(SecretMasker masker, string text) => Encoding.UTF8.GetString([.. masker.Process(Encoding.UTF8.GetBytes(text)), .. masker.Flush()]);

    [Fact]
    public void The_raw_value_is_replaced_by_three_stars()
    {
        var masker = new SecretMasker([Secret]);

        Assert.Equal($"token=*** and again: ***\n", MaskAll(masker, $"token={Secret} and again: {Secret}\n"));
    }

    [Fact]
    public void Standard_and_url_safe_base64_with_and_without_padding_are_masked()
    {
        const string value = "tok>>>en???~~~";
        var masker = new SecretMasker([value]);
        var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(value));
        var url = base64.Replace('+', '-').Replace('/', '_');
        Assert.NotEqual(base64, url);

        foreach (var form in (string[])[base64, base64.TrimEnd('='), url, url.TrimEnd('=')])
        {
            Assert.Equal("b64: ***\n", MaskAll(masker, $"b64: {form}\n"));
        }
    }

    [Theory]
    [InlineData("u:")]
    [InlineData("us:")]
    [InlineData("use:")]
    [InlineData("user:")]
    public void Base64_of_a_text_that_embeds_the_value_is_masked_at_every_alignment(string prefix)
    {
        var masker = new SecretMasker([Secret]);
        // As in an HTTP basic auth header: base64("user:" + password + suffix).
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(prefix + Secret + "@host"));

        var masked = MaskAll(masker, $"Authorization: Basic {encoded}");

        Assert.Contains("***", masked, StringComparison.Ordinal);
        // What is left is the neighbours' characters and at most one mixed character on each side of the value.
        var left = masked.Length - "Authorization: Basic ".Length - 3;
        Assert.True(left <= (prefix.Length + 2) * 4 / 3 + 1 + ("@host".Length + 2) * 4 / 3 + 1 + 2, $"'{masked}' shows too much of '{encoded}'");
        Assert.DoesNotContain(encoded[8..^8], masked, StringComparison.Ordinal);
    }

    [Fact]
    public void Url_encoded_forms_are_masked()
    {
        const string value = "p@ss w/rd&x=1";
        var masker = new SecretMasker([value]);
        var escaped = Uri.EscapeDataString(value);

        foreach (var form in (string[])[escaped, escaped.Replace("%20", "+", StringComparison.Ordinal), WebUtility.UrlEncode(value),
                     "p%40ss+w%2frd%26x%3d1", "p%40ss%20w%2frd%26x%3d1"])
        {
            Assert.Equal("GET /?password=*** HTTP/1.1", MaskAll(masker, $"GET /?password={form} HTTP/1.1"));
        }
    }

    [Fact]
    public void Lower_and_upper_case_hex_are_masked()
    {
        var masker = new SecretMasker([Secret]);
        var bytes = Encoding.UTF8.GetBytes(Secret);

        Assert.Equal("hex ***.", MaskAll(masker, $"hex {Convert.ToHexStringLower(bytes)}."));
        Assert.Equal("HEX ***.", MaskAll(masker, $"HEX {Convert.ToHexString(bytes)}."));
    }

    [Fact]
    public void Json_escaped_forms_are_masked_as_common_encoders_write_them()
    {
        const string value = "quote\" back\\slash\nnew line é <tag> & tab\t";
        var masker = new SecretMasker([value]);
        var relaxed = JsonSerializer.Serialize(value, Relaxed);
        var strict = JsonSerializer.Serialize(value);
        // Python's json.dumps: non-ASCII as lower-case \u escapes, < > & as they are.
        var python = "\"quote\\\" back\\\\slash\\nnew line \\u00e9 <tag> & tab\\t\"";

        foreach (var json in (string[])[relaxed, strict, python])
        {
            Assert.Equal("{\"token\":\"***\"}", MaskAll(masker, $"{{\"token\":{json}}}"));
        }
    }

    [Fact]
    public void Each_line_of_a_multi_line_secret_is_masked_on_its_own()
    {
        const string key = "-----BEGIN KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\r\nBKcwggSjAgEAAoIBAQC7\r\n-----END KEY-----";
        var masker = new SecretMasker([key]);

        Assert.Equal("whole: ***\n", MaskAll(masker, $"whole: {key}\n"));
        Assert.Equal("$ grep MII key.pem\n***\n", MaskAll(masker, "$ grep MII key.pem\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"));
        Assert.Equal("tail: ***\n", MaskAll(masker, "tail: BKcwggSjAgEAAoIBAQC7\n"));
    }

    [Fact]
    public void A_secret_split_across_two_chunks_at_every_offset_is_masked()
    {
        var masker = new SecretMasker([Secret]);
        var hex = Convert.ToHexStringLower(Encoding.UTF8.GetBytes(Secret));
        foreach (var text in (string[])[$"before {Secret} after", $"hex {hex} end", $"{Secret}{Secret}"])
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            var expected = MaskAll(masker, text);
            Assert.DoesNotContain(Secret, expected, StringComparison.Ordinal);
            for (var cut = 0; cut <= bytes.Length; cut++)
            {
                var output = new List<byte>();
                output.AddRange(masker.Process(bytes.AsSpan(0, cut)));
                output.AddRange(masker.Process(bytes.AsSpan(cut)));
                output.AddRange(masker.Flush());
                Assert.Equal(expected, Encoding.UTF8.GetString([.. output]));
            }
        }
    }

    [Fact]
    public void A_secret_fed_one_byte_at_a_time_is_masked()
    {
        var masker = new SecretMasker([Secret]);
        var bytes = Encoding.UTF8.GetBytes($"x{Secret}y{Convert.ToBase64String(Encoding.UTF8.GetBytes(Secret))}z");
        var output = new List<byte>();

        foreach (var b in bytes)
        {
            output.AddRange(masker.Process([b]));
        }
        output.AddRange(masker.Flush());

        Assert.Equal("x***y***z", Encoding.UTF8.GetString([.. output]));
    }

    [Fact]
    public void Text_without_secrets_passes_through_byte_for_byte_including_invalid_utf8_and_a_held_back_tail()
    {
        var masker = new SecretMasker([Secret, "another-secret-value"]);
        var random = new Random(11);
        var input = new byte[200_000];
        random.NextBytes(input);
        // Invalid UTF-8 on purpose: a lone continuation byte, a truncated sequence, an overlong form, and the start of a secret.
        byte[] odd = [0x80, 0xc3, 0x28, 0xe2, 0x82, 0xc0, 0xaf, 0xff, .. "hunter2-Sup3r"u8];
        odd.CopyTo(input, 1000);
        odd.CopyTo(input, input.Length - odd.Length);

        var output = new List<byte>();
        for (var offset = 0; offset < input.Length;)
        {
            var length = Math.Min(random.Next(1, 9000), input.Length - offset);
            output.AddRange(masker.Process(input.AsSpan(offset, length)));
            offset += length;
            Assert.InRange(offset - output.Count, 0, masker.HoldBack);
        }
        var beforeFlush = output.Count;
        output.AddRange(masker.Flush());

        Assert.True(beforeFlush < input.Length, "the tail that begins like a secret is held until Flush");
        Assert.Equal(input, output.ToArray());
    }

    [Fact]
    public void Only_a_tail_that_could_begin_a_secret_is_held_back_so_a_live_log_is_not_delayed()
    {
        var masker = new SecretMasker([Secret]);

        Assert.Equal("compiling foo.c\n"u8.ToArray(), masker.Process("compiling foo.c\n"u8));
        Assert.Equal("token="u8.ToArray(), masker.Process("token=hunter2-S"u8));
        Assert.Equal("hunter2-Sx\n"u8.ToArray(), masker.Process("x\n"u8));
        Assert.Empty(masker.Flush());
    }

    [Fact]
    public void Values_shorter_than_four_characters_are_not_masked()
    {
        var masker = new SecretMasker(["abc", "", "x"]);

        Assert.True(masker.IsEmpty);
        Assert.Equal("abc x abc", MaskAll(masker, "abc x abc"));
        Assert.Equal("*** abc", MaskAll(new SecretMasker(["abc", "abcd"]), "abcd abc"));
    }

    [Fact]
    public void Overlapping_secrets_and_one_that_is_a_prefix_of_another_are_all_masked()
    {
        var masker = new SecretMasker(["abcd1234", "abcd1234efgh", "1234wxyz"]);

        Assert.Equal("x *** y *** z ***", MaskAll(masker, "x abcd1234 y abcd1234efgh z abcd1234wxyz"));
        Assert.Equal("[***]", MaskAll(masker, "[abcd1234abcd1234efgh]"));
    }

    [Fact]
    public void A_message_is_masked_without_disturbing_the_stream_in_progress()
    {
        var masker = new SecretMasker([Secret]);
        var first = masker.Process(Encoding.UTF8.GetBytes($"log {Secret[..5]}"));

        Assert.Equal("could not upload '***': refused", masker.Mask($"could not upload '{Secret}': refused"));
        var rest = masker.Process(Encoding.UTF8.GetBytes($"{Secret[5..]} done"));
        Assert.Equal("log *** done", Encoding.UTF8.GetString([.. first, .. rest, .. masker.Flush()]));
    }

    [Fact]
    public void A_five_megabyte_log_with_a_few_secrets_is_masked_in_one_pass()
    {
        string[] secrets = [Secret, "ghp_0123456789abcdefABCDEF0123456789abcd", "multi\nline secret value"];
        var masker = new SecretMasker(secrets);
        var log = new StringBuilder();
        var planted = 0;
        for (var line = 0; log.Length < 5 * 1024 * 1024; line++)
        {
            log.Append("compiling unit ").Append(line).Append(": gcc -O2 -Wall -c src/file.c -o obj/file.o\n");
            if (line % 997 == 0)
            {
                log.Append("export TOKEN=").Append(secrets[planted % 2]).Append('\n');
                planted++;
            }
        }
        var bytes = Encoding.UTF8.GetBytes(log.ToString());

        var output = new List<byte>(bytes.Length);
        for (var offset = 0; offset < bytes.Length; offset += 512 * 1024)
        {
            output.AddRange(masker.Process(bytes.AsSpan(offset, Math.Min(512 * 1024, bytes.Length - offset))));
        }
        output.AddRange(masker.Flush());
        var masked = Encoding.UTF8.GetString([.. output]);

        Assert.Equal(planted, masked.Split("export TOKEN=***\n").Length - 1);
        Assert.DoesNotContain("ghp_", masked, StringComparison.Ordinal);
        Assert.Equal(bytes.Length - planted / 2 * (secrets[1].Length - 3) - (planted - planted / 2) * (Secret.Length - 3), output.Count);
    }
}
