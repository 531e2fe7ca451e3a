namespace Kiln.Engine.Tests;

/// <summary>The class of answer a row of the authorization matrix expects.</summary>
public enum MatrixOutcome
{
    /// <summary>The access layer let it through: anything but 401, 403, 404 (and no 5xx).</summary>
    Allowed,

    /// <summary>Let through, and the resource exists: exactly 2xx.</summary>
    Succeeds,

    /// <summary>Credentials are not even read: anything but 401 and 403 (and no 5xx).</summary>
    NotChecked,

    Unauthorized,

    Forbidden,

    /// <summary>404, as for a resource that does not exist.</summary>
    Hidden,

    /// <summary>An authenticated worker on work that is not its own: a 4xx, but not 401 or 403.</summary>
    NotItsWork,
}

/// <summary>
/// What each caller gets from an operation, from its declared policy (<c>x-kiln-policy</c>) alone.
/// <paramref name="projectScoped"/>: the operation names a resource of the private project P (a
/// workflow, work request or the project itself, by path or body).
/// </summary>
public static class AuthorizationMatrixRules
{
    public static readonly string[] KnownPolicies = ["public", "read", "user", "submit", "operate", "project-owner", "admin", "worker", "registration"];

    /// <summary>The expected outcome, or null when no rule covers the combination (the test fails: decide one).</summary>
    public static MatrixOutcome? Expect(string policy, MatrixCaller caller, bool projectScoped, bool hasPathParameters)
    {
        if (policy == "public")
        {
            return MatrixOutcome.NotChecked;
        }
        if (caller is MatrixCaller.RevokedToken or MatrixCaller.ExpiredToken or MatrixCaller.DisabledUser)
        {
            return MatrixOutcome.Unauthorized;
        }
        switch (policy)
        {
            case "worker":
                return caller != MatrixCaller.WorkerOfOtherPool ? MatrixOutcome.Unauthorized
                    : projectScoped ? MatrixOutcome.NotItsWork : MatrixOutcome.Allowed;
            case "registration":
                return caller == MatrixCaller.Registrar ? MatrixOutcome.Allowed : MatrixOutcome.Unauthorized;
        }
        // A registration token opens nothing else.
        if (caller == MatrixCaller.Registrar)
        {
            return MatrixOutcome.Unauthorized;
        }
        var member = caller is MatrixCaller.Viewer or MatrixCaller.Contributor or MatrixCaller.Maintainer or MatrixCaller.Admin or MatrixCaller.ReadOnlyToken;
        if (policy == "read")
        {
            // Private P is seen by its members and admins only; lists (no path) answer everyone, without P's items.
            return !projectScoped ? (hasPathParameters ? MatrixOutcome.Allowed : MatrixOutcome.Succeeds)
                : member ? MatrixOutcome.Succeeds : MatrixOutcome.Hidden;
        }
        if (caller == MatrixCaller.Anonymous)
        {
            return MatrixOutcome.Unauthorized;
        }
        // A worker's secret only reads (and speaks the worker protocol).
        if (caller == MatrixCaller.WorkerOfOtherPool)
        {
            return MatrixOutcome.Forbidden;
        }
        switch (policy)
        {
            // A user's own things (its tokens): someone else's answer 404, as ones that do not exist.
            case "user":
                return !hasPathParameters || caller == MatrixCaller.Admin ? MatrixOutcome.Allowed : MatrixOutcome.Hidden;
            // A token without the scope a policy needs is refused before any role is looked at.
            case "submit" or "operate" or "project-owner" or "admin" when caller == MatrixCaller.ReadOnlyToken:
                return MatrixOutcome.Forbidden;
            case "admin":
                return caller == MatrixCaller.Admin ? MatrixOutcome.Allowed : MatrixOutcome.Forbidden;
        }
        if (!projectScoped)
        {
            // Any user with the submit scope may make a project of its own.
            return policy == "submit" ? MatrixOutcome.Allowed : null;
        }
        if (caller == MatrixCaller.OwnerOfOtherProject)
        {
            return MatrixOutcome.Hidden;
        }
        // P's workflow was submitted by the admin, so the contributor may not cancel or retry it.
        var allowed = policy switch
        {
            "submit" => caller is MatrixCaller.Contributor or MatrixCaller.Maintainer or MatrixCaller.Admin,
            "operate" => caller is MatrixCaller.Maintainer or MatrixCaller.Admin,
            "project-owner" => caller is MatrixCaller.Admin,
            _ => (bool?)null,
        };
        return allowed switch
        {
            true => MatrixOutcome.Allowed,
            false => MatrixOutcome.Forbidden,
            null => null,
        };
    }

    public static bool Accepts(MatrixOutcome outcome, int status) => status < 500 && outcome switch
    {
        MatrixOutcome.Allowed => status is not (401 or 403 or 404),
        MatrixOutcome.Succeeds => status is >= 200 and < 300,
        MatrixOutcome.NotChecked => status is not (401 or 403),
        MatrixOutcome.Unauthorized => status == 401,
        MatrixOutcome.Forbidden => status == 403,
        MatrixOutcome.Hidden => status == 404,
        MatrixOutcome.NotItsWork => status is >= 400 and not (401 or 403),
        _ => false,
    };
}
