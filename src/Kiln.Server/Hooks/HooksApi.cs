using Kiln.Contracts;
using Kiln.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Hooks;

/// <summary>
/// <c>POST /api/v1/hooks/github|gitlab|forgejo</c>: forge webhooks. No token: a delivery proves
/// itself by its signature, made with the secret of a repository link (docs/webhooks.md).
/// Not rate limited (a forge sends in bursts and does not retry a refused delivery); a rejected
/// delivery keeps at most <see cref="ForgeIntake.KeptRejectedBodyBytes"/> of its body.
/// </summary>
public static class HooksApi
{
    private static readonly ForgeDialect[] Dialects = [new GitHubDialect(), new GitLabDialect(), new ForgejoDialect()];

    public static IEndpointRouteBuilder MapHooksApi(this IEndpointRouteBuilder routes)
    {
        var hooks = routes.MapGroup("/api/v1/hooks").WithTags("Events");
        foreach (var dialect in Dialects)
        {
            hooks.MapPost($"/{dialect.Source}", (HttpContext http, ForgeIntake intake) => intake.ReceiveAsync(dialect, http))
                .Allow(AccessPolicy.Public)
                .Accepts<object>("application/json")
                .Produces<EventAccepted>(StatusCodes.Status202Accepted)
                .Produces<EventAccepted>()
                .ProducesProblem(StatusCodes.Status400BadRequest)
                .ProducesProblem(StatusCodes.Status401Unauthorized)
                .ProducesProblem(StatusCodes.Status404NotFound)
                .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
                .WithSummary($"A {dialect.Title} webhook delivery, verified by the {Signature(dialect)} with a repository link's secret, stored, then answered "
                    + $"202 (200 with the first event's id for a repeated {dialect.DeliveryHeader}); processed afterwards. At most {ForgeIntake.MaxBodyBytes} bytes. "
                    + "A bad signature (401), an unknown repository (404), a malformed payload (400) or an oversize body (413) is stored as a rejected event.");
        }
        return routes;
    }

    private static string Signature(ForgeDialect dialect) => dialect.Source switch
    {
        EventSources.GitHub => "X-Hub-Signature-256 HMAC",
        EventSources.GitLab => "X-Gitlab-Token (and the Standard Webhooks webhook-signature when sent)",
        _ => "X-Forgejo-Signature (or X-Gitea-Signature) HMAC",
    };
}
