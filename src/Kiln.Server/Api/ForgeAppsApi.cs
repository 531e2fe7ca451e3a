using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Server.Security;
using Kiln.Store.Outbox;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/forge-apps</c>: the GitHub App (id and private key) a farm writes check runs as, one per
/// GitHub API URL. A repository link with an installationId reports through the App of its apiUrl.
/// The key is stored sealed and never shown. Farm admins only.
/// </summary>
public static class ForgeAppsApi
{
    private const int BodyMaxBytes = 32 * 1024;
    private const int MaxUrl = 500;
    private const int MaxAppId = 40;

    public static IEndpointRouteBuilder MapForgeAppsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/forge-apps").WithTags("Forge apps");
        group.MapPut("", SetAsync)
            .Allow(AccessPolicy.Admin)
            .Accepts<SetForgeAppRequest>("application/json")
            .Produces<ForgeAppView>()
            .WithSummary("Register or replace the GitHub App of an API URL: apiUrl (http or https), appId (digits), privateKey (the App's RSA private key, PEM; "
                + "stored sealed, never shown). Links with an installationId and this apiUrl then write check runs as the App. Admins.");
        group.MapGet("", async (ForgeAppStore store, CancellationToken ct) => TypedResults.Ok(await store.ListAsync(ct)))
            .Allow(AccessPolicy.Admin)
            .Produces<IReadOnlyList<ForgeAppView>>()
            .WithSummary("The registered GitHub Apps, without their keys. Admins.");
        group.MapDelete("", async (string? apiUrl, ForgeAppStore store, CancellationToken ct) =>
            {
                if (string.IsNullOrEmpty(apiUrl))
                {
                    return ApiProblems.Invalid("apiUrl", "is required");
                }
                var url = apiUrl.TrimEnd('/');
                return await store.RemoveAsync(url, ct)
                    ? TypedResults.Ok(new ActionResponse(1, $"the GitHub App of {url} is removed"))
                    : ApiProblems.NotFound($"no GitHub App is registered for {url}");
            })
            .Allow(AccessPolicy.Admin)
            .Produces<ActionResponse>()
            .WithSummary("Remove the GitHub App of ?apiUrl=: check runs of its installations then fail until one is registered again. Admins.");
        return routes;
    }

    private static async Task<IResult> SetAsync(HttpRequest request, ForgeAppStore store, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<SetForgeAppRequest>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var errors = new List<Core.ValidationError>();
        if (body!.ApiUrl is not { } api || api.Length > MaxUrl || !Uri.TryCreate(api, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            errors.Add(new("apiUrl", $"must be an http or https URL of at most {MaxUrl} characters, without query"));
        }
        if (body.AppId is not { Length: > 0 and <= MaxAppId } appId || !appId.All(char.IsAsciiDigit))
        {
            errors.Add(new("appId", $"must be the App's numeric id (1 to {MaxAppId} digits)"));
        }
        if (body.PrivateKey is not { Length: > 0 and <= 16 * 1024 } pem || !LoadsAsRsa(pem))
        {
            errors.Add(new("privateKey", "must be the App's RSA private key in PEM (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)"));
        }
        if (errors.Count > 0)
        {
            return ApiProblems.Invalid(errors);
        }
        var url = body.ApiUrl!.TrimEnd('/');
        await store.SetAsync(url, body.AppId!, body.PrivateKey!, Caller.Of(request.HttpContext).User?.UserId, ct);
        var view = (await store.ListAsync(ct)).First(a => a.ApiUrl == url);
        return TypedResults.Ok(view);
    }

    private static bool LoadsAsRsa(string pem)
    {
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            // a public key imports too; signing needs the private part
            rsa.ExportParameters(includePrivateParameters: true);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            return false;
        }
    }
}
