using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Kiln.Store.Secrets;

/// <summary>
/// Encrypts project secret values at rest with AES-256-GCM under a key kept outside the database,
/// in a key file only its owner can read: a copy of the database (a dump, a backup, a replica) holds
/// ciphertext only. Each sealed value is bound to its project and name (the associated data), so a
/// ciphertext copied onto another row does not decrypt. <see cref="KeyId"/> is stored beside each
/// ciphertext so that a value sealed under another key is named as such rather than "corrupt".
/// </summary>
public sealed class SecretBox
{
    /// <summary>Largest value <see cref="Seal"/> accepts, in UTF-8 bytes (a signing key or a token fits many times over).</summary>
    public const int MaxValueBytes = 64 * 1024;

    /// <summary>Layout version, first byte of every sealed value (and part of its associated data).</summary>
    private const byte Version = 1;

    private const int KeyBytes = 32;
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private const int HeaderBytes = 1 + NonceBytes + TagBytes;

    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                              | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly byte[] _key;

    private SecretBox(byte[] key)
    {
        _key = key;
        KeyId = Convert.ToHexStringLower(SHA256.HashData(key))[..8];
    }

    /// <summary>First 8 hex digits of the key's SHA-256: names the key without revealing it.</summary>
    public string KeyId { get; }

    /// <summary>
    /// Reads the key from <paramref name="keyFile"/> (one line: base64 of 32 bytes), or creates the file with
    /// a fresh random key (mode 0600, its directory 0700 if missing) when there is none.
    /// </summary>
    /// <exception cref="SecretKeyFileException">The file is readable or writable by group or others, or does not hold a 32-byte key.</exception>
    public static SecretBox LoadOrCreate(string keyFile)
    {
        var path = Path.GetFullPath(keyFile);
        if (!File.Exists(path))
        {
            TryCreate(path);
        }
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
        {
            throw new SecretKeyFileException(
                $"the secrets key file '{path}' is accessible to group or others (mode {Convert.ToString((int)File.GetUnixFileMode(path), 8)}); "
                + $"make it readable by its owner only: chmod 600 '{path}'");
        }
        var text = File.ReadAllText(path).Trim();
        var key = new byte[KeyBytes + 1];
        if (!Convert.TryFromBase64String(text, key, out var written) || written != KeyBytes)
        {
            throw new SecretKeyFileException($"the secrets key file '{path}' does not hold a key: expected one line of base64 encoding exactly {KeyBytes} bytes");
        }
        return new SecretBox(key[..KeyBytes]);
    }

    /// <summary>Encrypts <paramref name="value"/> for the secret <paramref name="name"/> of project <paramref name="projectId"/>.</summary>
    /// <returns>Version byte, 12-byte random nonce, 16-byte tag, ciphertext.</returns>
    /// <exception cref="ArgumentException">The value is longer than <see cref="MaxValueBytes"/> in UTF-8.</exception>
    public byte[] Seal(long projectId, string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        var plain = Encoding.UTF8.GetBytes(value);
        if (plain.Length > MaxValueBytes)
        {
            throw new ArgumentException($"a secret value is at most {MaxValueBytes} bytes (UTF-8); this one is {plain.Length}", nameof(value));
        }
        var sealedValue = new byte[HeaderBytes + plain.Length];
        sealedValue[0] = Version;
        var nonce = sealedValue.AsSpan(1, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagBytes);
        aes.Encrypt(nonce, plain, sealedValue.AsSpan(HeaderBytes), sealedValue.AsSpan(1 + NonceBytes, TagBytes), AssociatedData(projectId, name));
        CryptographicOperations.ZeroMemory(plain);
        return sealedValue;
    }

    /// <summary>Decrypts what <see cref="Seal"/> made for the same project and name.</summary>
    /// <param name="keyId">The <see cref="KeyId"/> stored beside the ciphertext, if known: a value sealed under another key is then named as such.</param>
    /// <exception cref="CryptographicException">Another key, another project or name, or altered bytes; the message says which is known.</exception>
    public string Open(long projectId, string name, byte[] sealedValue, string? keyId = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(sealedValue);
        if (keyId is not null && keyId != KeyId)
        {
            throw new CryptographicException(
                $"secret '{name}' of project {projectId} was sealed with key {keyId}, but the key file holds key {KeyId}: restore the key file it was sealed with, or set the secret again");
        }
        if (sealedValue.Length < HeaderBytes || sealedValue[0] != Version)
        {
            throw new CryptographicException($"secret '{name}' of project {projectId} is not a sealed value of version {Version} (damaged)");
        }
        var plain = new byte[sealedValue.Length - HeaderBytes];
        using var aes = new AesGcm(_key, TagBytes);
        try
        {
            aes.Decrypt(sealedValue.AsSpan(1, NonceBytes), sealedValue.AsSpan(HeaderBytes), sealedValue.AsSpan(1 + NonceBytes, TagBytes), plain, AssociatedData(projectId, name));
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new CryptographicException(
                $"secret '{name}' of project {projectId} does not decrypt with key {KeyId}: it was sealed with another key, for another project or name, or altered", e);
        }
        var value = Encoding.UTF8.GetString(plain);
        CryptographicOperations.ZeroMemory(plain);
        return value;
    }

    /// <summary>Version, project id (big-endian) and name: what a ciphertext is bound to.</summary>
    private static byte[] AssociatedData(long projectId, string name)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var data = new byte[1 + sizeof(long) + nameBytes.Length];
        data[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(1), projectId);
        nameBytes.CopyTo(data, 1 + sizeof(long));
        return data;
    }

    /// <summary>
    /// Writes a fresh key to a temporary file created 0600 (never readable by others, not even
    /// briefly), then moves it into place without overwriting: two servers starting at once
    /// end up sharing whichever key landed first, and a reader never sees a half-written file.
    /// </summary>
    private static void TryCreate(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var key = RandomNumberGenerator.GetBytes(KeyBytes);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using (var file = new FileStream(temporary, options))
            {
                file.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(key) + "\n"));
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first: use that key.
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            File.Delete(temporary);
        }
    }
}
