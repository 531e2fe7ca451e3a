namespace Kiln.Server.Hosting;

/// <summary>
/// The server was told to listen in a way it must not (see <see cref="ListenPolicy"/>) or with a
/// certificate it cannot use. The message is one line for the operator, without the command's
/// name; <c>kiln server</c> and <c>kiln up</c> print it and exit with 2.
/// </summary>
public sealed class ListenRefusedException : Exception
{
    public ListenRefusedException()
    {
    }

    public ListenRefusedException(string message) : base(message)
    {
    }

    public ListenRefusedException(string message, Exception inner) : base(message, inner)
    {
    }
}
