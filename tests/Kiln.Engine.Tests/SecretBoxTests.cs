using System.Security.Cryptography;
using Kiln.Store.Secrets;

namespace Kiln.Engine.Tests;

/// <summary>Project secrets at rest: AES-256-GCM under a key file only its owner can read, bound to project and name.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SecretBoxTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"kiln-secretbox-{Guid.NewGuid():N}");

    private string KeyFile => Path.Combine(_directory, "keys", "secrets.key");

    [Fact]
    public void A_sealed_value_opens_to_the_same_text_and_does_not_contain_it()
    {
        var box = SecretBox.LoadOrCreate(KeyFile);
        const string value = "gpg-passphrase: correct horse battery staple ✓\n";

        var sealedValue = box.Seal(7, "SIGNING_KEY", value);

        Assert.Equal(value, box.Open(7, "SIGNING_KEY", sealedValue, box.KeyId));
        Assert.DoesNotContain("correct horse", System.Text.Encoding.UTF8.GetString(sealedValue), StringComparison.Ordinal);
        // A fresh nonce each time: the same value never seals to the same bytes.
        Assert.NotEqual(sealedValue, box.Seal(7, "SIGNING_KEY", value));
    }

    [Fact]
    public void A_key_file_is_created_readable_by_its_owner_only_and_the_same_key_is_read_back()
    {
        var first = SecretBox.LoadOrCreate(KeyFile);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyFile));
        var second = SecretBox.LoadOrCreate(KeyFile);
        Assert.Equal(first.KeyId, second.KeyId);
        Assert.Equal("hello", second.Open(1, "A", first.Seal(1, "A", "hello")));
        Assert.Matches("^[0-9a-f]{8}$", first.KeyId);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(KeyFile)!));
    }

    [Fact]
    public void A_key_file_that_group_or_others_can_read_is_refused_with_its_name()
    {
        SecretBox.LoadOrCreate(KeyFile);
        File.SetUnixFileMode(KeyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var refused = Assert.Throws<SecretKeyFileException>(() => SecretBox.LoadOrCreate(KeyFile));

        Assert.Contains(KeyFile, refused.Message, StringComparison.Ordinal);
        Assert.Contains("644", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not base64 at all!")]
    [InlineData("c2hvcnQ=")]
    [InlineData("")]
    public void A_key_file_that_does_not_hold_32_bytes_of_base64_is_refused_with_its_name(string content)
    {
        Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, "bad.key");
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var refused = Assert.Throws<SecretKeyFileException>(() => SecretBox.LoadOrCreate(path));

        Assert.Contains(path, refused.Message, StringComparison.Ordinal);
        Assert.Contains("32 bytes", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Any_altered_byte_of_a_sealed_value_makes_it_fail_to_open()
    {
        var box = SecretBox.LoadOrCreate(KeyFile);
        var sealedValue = box.Seal(3, "TOKEN", "s3cr3t-value");

        for (var i = 0; i < sealedValue.Length; i++)
        {
            var altered = (byte[])sealedValue.Clone();
            altered[i] ^= 0x01;
            Assert.Throws<CryptographicException>(() => box.Open(3, "TOKEN", altered));
        }
        Assert.Throws<CryptographicException>(() => box.Open(3, "TOKEN", sealedValue[..^1]));
    }

    [Fact]
    public void A_sealed_value_copied_to_another_project_or_name_does_not_open()
    {
        var box = SecretBox.LoadOrCreate(KeyFile);
        var sealedValue = box.Seal(3, "TOKEN", "s3cr3t-value");

        var otherProject = Assert.Throws<CryptographicException>(() => box.Open(4, "TOKEN", sealedValue));
        Assert.Throws<CryptographicException>(() => box.Open(3, "TOKEN2", sealedValue));
        Assert.Throws<CryptographicException>(() => box.Open(3, "token", sealedValue));
        Assert.Contains("project 4", otherProject.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_sealed_under_another_key_fails_with_a_message_naming_both_keys()
    {
        var original = SecretBox.LoadOrCreate(KeyFile);
        var sealedValue = original.Seal(3, "TOKEN", "s3cr3t-value");
        var other = SecretBox.LoadOrCreate(Path.Combine(_directory, "other.key"));

        var named = Assert.Throws<CryptographicException>(() => other.Open(3, "TOKEN", sealedValue, original.KeyId));
        var unnamed = Assert.Throws<CryptographicException>(() => other.Open(3, "TOKEN", sealedValue));

        Assert.Contains(original.KeyId, named.Message, StringComparison.Ordinal);
        Assert.Contains(other.KeyId, named.Message, StringComparison.Ordinal);
        Assert.Contains(other.KeyId, unnamed.Message, StringComparison.Ordinal);
        Assert.NotEqual(original.KeyId, other.KeyId);
    }

    [Fact]
    public void A_value_above_64_KiB_is_refused_and_one_of_exactly_64_KiB_is_sealed()
    {
        var box = SecretBox.LoadOrCreate(KeyFile);
        var limit = new string('x', SecretBox.MaxValueBytes);

        Assert.Equal(limit, box.Open(1, "BIG", box.Seal(1, "BIG", limit)));
        Assert.Throws<ArgumentException>(() => box.Seal(1, "BIG", limit + "x"));
        // The limit counts UTF-8 bytes, not characters.
        Assert.Throws<ArgumentException>(() => box.Seal(1, "BIG", new string('é', SecretBox.MaxValueBytes / 2 + 1)));
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
