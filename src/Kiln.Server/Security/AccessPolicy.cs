using Microsoft.AspNetCore.Builder;

namespace Kiln.Server.Security;

/// <summary>
/// Who may call an endpoint. Every endpoint declares one (<see cref="AccessPolicyExtensions.Allow{T}"/>);
/// the server refuses to start if one does not (<see cref="AccessPolicies.Verify"/>), and the
/// authorization matrix test reads the policies from the OpenAPI document (<c>x-kiln-policy</c>).
/// The policy is the first gate (who is calling, with which scopes); what the caller may do to a
/// particular project is checked by <see cref="ProjectAccess"/>, and a project the caller may not
/// see answers 404.
/// </summary>
public enum AccessPolicy
{
    /// <summary>Anyone; credentials are not even read (probes, the API description).</summary>
    Public,

    /// <summary>Anyone, signed in or not (a bad token is a 401); private projects only for their members, admins and the workers that serve them.</summary>
    Read,

    /// <summary>Any signed-in user (their own account and tokens).</summary>
    User,

    /// <summary>A user with the <c>submit</c> scope; a contributor of the project (a new project is created with the caller as owner).</summary>
    Submit,

    /// <summary>A user with the <c>operate</c> scope; a maintainer, or a contributor on its own work (cancel, retry).</summary>
    Operate,

    /// <summary>A user with the <c>operate</c> scope who owns the project (members, description, visibility, secrets, trusted pools).</summary>
    ProjectOwner,

    /// <summary>A farm admin's token with the <c>admin</c> scope (users, workers, pools, farm policy, notices, audit).</summary>
    Admin,

    /// <summary>A worker, by its own secret (claims, heartbeats, reports, logs, artifacts).</summary>
    Worker,

    /// <summary>A worker registration token (<c>kiln_reg_…</c>).</summary>
    Registration,
}

/// <summary>The policy an endpoint declared.</summary>
public sealed record AccessMetadata(AccessPolicy Policy);

public static class AccessPolicyExtensions
{
    /// <summary>Declares who may call the endpoints of <paramref name="builder"/>.</summary>
    public static T Allow<T>(this T builder, AccessPolicy policy) where T : IEndpointConventionBuilder =>
        builder.WithMetadata(new AccessMetadata(policy));

    /// <summary>The OpenAPI and CLI spelling of a policy.</summary>
    public static string Name(this AccessPolicy policy) => policy switch
    {
        AccessPolicy.Public => "public",
        AccessPolicy.Read => "read",
        AccessPolicy.User => "user",
        AccessPolicy.Submit => "submit",
        AccessPolicy.Operate => "operate",
        AccessPolicy.ProjectOwner => "project-owner",
        AccessPolicy.Admin => "admin",
        AccessPolicy.Worker => "worker",
        AccessPolicy.Registration => "registration",
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };
}
