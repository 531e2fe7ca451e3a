namespace Kiln.Store.Secrets;

/// <summary>The secrets key file cannot be used (readable by others, or no key in it): the server does not start, and says why.</summary>
public sealed class SecretKeyFileException(string message) : InvalidOperationException(message);
