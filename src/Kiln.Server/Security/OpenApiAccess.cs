using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.OpenApi;

namespace Kiln.Server.Security;

/// <summary>
/// Puts each endpoint's <see cref="AccessPolicy"/> into the OpenAPI document, where outside
/// clients (and the authorization matrix test) read it: the <c>bearerAuth</c> scheme, and per
/// operation an <c>x-kiln-policy</c> extension, its <c>security</c> requirement and the refusals
/// the policy can give (401, 403, 404, 429) as problem-details responses saying when.
/// </summary>
public static class OpenApiAccess
{
    public const string SchemeName = "bearerAuth";

    public const string PolicyExtension = "x-kiln-policy";

    private const string ProblemType = "application/problem+json";

    /// <summary>Registers both transformers on the document.</summary>
    public static OpenApiOptions AddKilnAccess(this OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[SchemeName] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "Authorization: Bearer <token>. Three kinds of token: kiln_pat_… is a user's API token "
                    + "(every user endpoint; 'kiln token create'), kiln_reg_… a worker registration token (only "
                    + "POST /api/v1/workers/register), kiln_wrk_… a worker's own secret, returned by registration (the worker "
                    + "protocol, and reading what its pool serves). Each operation's x-kiln-policy says which it takes.",
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer(async (operation, context, ct) =>
        {
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<AccessMetadata>().LastOrDefault() is not { } access)
            {
                return;
            }
            var template = "/" + (context.Description.RelativePath ?? "").TrimStart('/');
            await DescribeAsync(operation, context, access.Policy, template, ct);
        });
        return options;
    }

    private static async Task DescribeAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, AccessPolicy policy, string template, CancellationToken ct)
    {
        operation.Extensions ??= new Dictionary<string, IOpenApiExtension>();
        operation.Extensions[PolicyExtension] = new JsonNodeExtension(JsonValue.Create(policy.Name()));
        if (policy == AccessPolicy.Public)
        {
            return;
        }
        var bearer = new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SchemeName, context.Document)] = [] };
        // Read: anonymous callers are welcome (an empty requirement), a token is optional.
        operation.Security = policy == AccessPolicy.Read ? [new OpenApiSecurityRequirement(), bearer] : [bearer];

        var problem = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, ct);
        operation.Responses ??= [];
        void Add(int status, string description)
        {
            var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses.TryGetValue(key, out var existing))
            {
                // An endpoint's own answer stays; only the bare reason phrase is replaced by when it happens.
                if (existing is OpenApiResponse { Description: var said } response && said == ReasonPhrases.GetReasonPhrase(status))
                {
                    response.Description = description;
                }
                return;
            }
            operation.Responses[key] = new OpenApiResponse
            {
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType> { [ProblemType] = new OpenApiMediaType { Schema = problem } },
            };
        }
        Add(StatusCodes.Status401Unauthorized, Unauthorized(policy));
        Add(StatusCodes.Status403Forbidden, Forbidden(policy));
        if (NotFound(template) is { } notFound)
        {
            Add(StatusCodes.Status404NotFound, notFound);
        }
        Add(StatusCodes.Status429TooManyRequests,
            "Too many requests from this caller; wait the seconds Retry-After gives, then repeat.");
    }

    private static string Unauthorized(AccessPolicy policy) => policy switch
    {
        AccessPolicy.Read => "The Authorization header is malformed, or its token is unknown, revoked, expired, a registration token, or its user is disabled. (No header at all is fine: anonymous callers see public projects.)",
        AccessPolicy.Worker => "No worker secret (kiln_wrk_…), or one that is unknown (the worker registered again, or was removed).",
        AccessPolicy.Registration => "No registration token (kiln_reg_…), or one that is unknown, revoked or expired.",
        _ => "No bearer token, or one that is unknown, revoked, expired, a registration token, or whose user is disabled.",
    };

    private static string Forbidden(AccessPolicy policy) => policy switch
    {
        AccessPolicy.Read => "The token lacks the 'read' scope.",
        AccessPolicy.User => "A worker's secret was sent: these operations are for users.",
        AccessPolicy.Submit => "The token lacks the 'submit' scope, a worker's secret was sent, or the caller is not a contributor (or more) of an existing project it may see.",
        AccessPolicy.Operate => "The token lacks the 'operate' scope, a worker's secret was sent, or the caller's role in the project is too low: a maintainer may, a contributor only on the workflows it submitted.",
        AccessPolicy.ProjectOwner => "The token lacks the 'operate' scope, a worker's secret was sent, or the caller is not an owner of the project.",
        AccessPolicy.Admin => "The caller is not a farm admin, the token lacks the 'admin' scope, or a worker's secret was sent.",
        AccessPolicy.Worker => "The worker is disabled by an operator ('kiln worker enable NAME').",
        AccessPolicy.Registration => "The worker of that name is disabled by an operator.",
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };

    /// <summary>What a 404 means for an operation on this path, or null when it has no path parameter.</summary>
    private static string? NotFound(string template)
    {
        if (!template.Contains('{', StringComparison.Ordinal))
        {
            return null;
        }
        return template.StartsWith("/api/v1/workflows/", StringComparison.Ordinal)
            || template.StartsWith("/api/v1/work-requests/", StringComparison.Ordinal)
            || template.StartsWith("/api/v1/projects/", StringComparison.Ordinal)
            ? "It does not exist, or it belongs to a private project the caller may not see: both answer the same, so private names and ids do not leak."
            : "It does not exist.";
    }
}
