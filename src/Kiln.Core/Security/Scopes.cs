namespace Kiln.Core.Security;

/// <summary>
/// What an API token may do, whatever its user may: a token's scopes are a ceiling on its
/// user's rights. <c>read</c> reads; <c>submit</c> submits workflows (and creates projects);
/// <c>operate</c> cancels, retries and re-prioritises, and changes the settings of projects
/// the user owns; <c>admin</c> uses a farm admin's rights (users, workers, farm policy).
/// </summary>
[Flags]
public enum Scopes
{
    None = 0,
    Read = 1,
    Submit = 2,
    Operate = 4,
    Admin = 8,
    All = Read | Submit | Operate | Admin,
}

/// <summary>Scope names as the API and the CLI spell them.</summary>
public static class ScopeNames
{
    public static readonly IReadOnlyList<string> All = ["read", "submit", "operate", "admin"];

    /// <summary>What a new token gets when no scopes are asked for: everything but admin.</summary>
    public static readonly IReadOnlyList<string> Default = ["read", "submit", "operate"];

    public static Scopes? Parse(IEnumerable<string> names)
    {
        var scopes = Scopes.None;
        foreach (var name in names)
        {
            switch (name)
            {
                case "read": scopes |= Scopes.Read; break;
                case "submit": scopes |= Scopes.Submit; break;
                case "operate": scopes |= Scopes.Operate; break;
                case "admin": scopes |= Scopes.Admin; break;
                default: return null;
            }
        }
        return scopes;
    }

    public static string[] Names(Scopes scopes) => [.. All.Where(n => scopes.HasFlag(Parse([n])!.Value))];
}
