using System.Net.Http.Headers;
using System.Text;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Kiln.Store.Secrets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/projects/{name}/secrets</c>: a project owner's (or an admin's) secrets, set from a raw
/// body, listed by name, deleted. No endpoint returns a value: only a job that names a secret gets
/// it, in its claim, on a worker of a pool the project trusts (see docs/api.md, "Secrets").
/// </summary>
public static class SecretsApi
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static IEndpointRouteBuilder MapSecretsApi(this IEndpointRouteBuilder routes)
    {
        var secrets = routes.MapGroup("/api/v1/projects/{name}/secrets").WithTags("Projects");
        secrets.MapGet("/", ListAsync)
            .Allow(AccessPolicy.ProjectOwner)
            .Produces<IReadOnlyList<SecretView>>()
            .WithSummary("The project's secrets by name, with who set them when; never their values. Project owners and admins.");
        secrets.MapPut("/{secret}", SetAsync)
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<string>("text/plain", "application/octet-stream")
            .Produces<SecretView>(StatusCodes.Status201Created)
            .Produces<SecretView>()
            .WithSummary($"Set a secret: the raw body is the value (UTF-8 without NUL, {SecretMasker.MinimumLength} characters to {SecretBox.MaxValueBytes} bytes), sealed at rest. Project owners and admins.");
        secrets.MapDelete("/{secret}", DeleteAsync)
            .Allow(AccessPolicy.ProjectOwner)
            .Produces<ActionResponse>()
            .WithSummary("Delete a secret (affected 0 when there was none); jobs naming it then fail to start with a message saying so. Project owners and admins.");
        return routes;
    }

    private static async Task<IResult> ListAsync(string name, HttpContext http, ProjectAccess access, AccessStore projects, SecretStore secrets, CancellationToken ct)
    {
        if (await access.ProjectAsync(http, name, ProjectNeed.Own) is { } refused)
        {
            return refused;
        }
        return await projects.OfProjectAsync(name, ct) is { } project
            ? TypedResults.Ok(await secrets.ListAsync(project.ProjectId, ct))
            : ApiProblems.NotFound($"project '{name}' does not exist");
    }

    private static async Task<IResult> SetAsync(
        string name, string secret, HttpContext http, ProjectAccess access, AccessStore projects, SecretStore secrets, CancellationToken ct)
    {
        // Who may set it is decided before a byte of the value is read.
        if (await access.ProjectAsync(http, name, ProjectNeed.Own) is { } refused)
        {
            return refused;
        }
        if (Invalid(secret) is { } bad)
        {
            return bad;
        }
        var request = http.Request;
        if (request.ContentType is { } type
            && (!MediaTypeHeaderValue.TryParse(type, out var media)
                || media.MediaType is not ("text/plain" or "application/octet-stream")
                || (media.CharSet is { } charset && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase))))
        {
            return ApiProblems.Status(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                $"send the value as the raw body with Content-Type text/plain (UTF-8) or application/octet-stream, not '{type}'");
        }
        if (request.ContentLength > SecretBox.MaxValueBytes)
        {
            return ApiProblems.TooLarge(SecretBox.MaxValueBytes);
        }
        var (bytes, tooLarge) = await ReadBodyAsync(request.Body, ct);
        if (tooLarge)
        {
            return ApiProblems.TooLarge(SecretBox.MaxValueBytes);
        }
        string value;
        try
        {
            value = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return ApiProblems.Invalid("value", "a secret value is UTF-8 text; this body is not valid UTF-8");
        }
        finally
        {
            Array.Clear(bytes);
        }
        if (value.Contains('\0'))
        {
            return ApiProblems.Invalid("value", "a secret value may not contain NUL (it could not be an environment variable)");
        }
        if (value.Length < SecretMasker.MinimumLength)
        {
            return ApiProblems.Invalid("value", $"a secret value has at least {SecretMasker.MinimumLength} characters: a shorter one could not be masked in logs");
        }
        if (await projects.OfProjectAsync(name, ct) is not { } project)
        {
            return ApiProblems.NotFound($"project '{name}' does not exist");
        }
        var caller = Caller.Of(http);
        var created = await secrets.SetAsync(project.ProjectId, project.ProjectName, secret, value, caller.Actor, caller.User?.UserId, ct);
        if (created is not { } isNew)
        {
            return ApiProblems.Conflict("secret", $"project '{name}' already has {SecretStore.MaxPerProject} secrets, the most it may hold; delete one first");
        }
        var view = (await secrets.ListAsync(project.ProjectId, ct)).FirstOrDefault(s => s.Name == secret)
            ?? new SecretView(secret, DateTimeOffset.MinValue, caller.User?.Name, secrets.KeyId); // deleted meanwhile
        return isNew
            ? TypedResults.Created($"/api/v1/projects/{Uri.EscapeDataString(name)}/secrets/{secret}", view)
            : TypedResults.Ok(view);
    }

    private static async Task<IResult> DeleteAsync(
        string name, string secret, HttpContext http, ProjectAccess access, AccessStore projects, SecretStore secrets, CancellationToken ct)
    {
        if (await access.ProjectAsync(http, name, ProjectNeed.Own) is { } refused)
        {
            return refused;
        }
        if (Invalid(secret) is { } bad)
        {
            return bad;
        }
        if (await projects.OfProjectAsync(name, ct) is not { } project)
        {
            return ApiProblems.NotFound($"project '{name}' does not exist");
        }
        // Idempotent: deleting what is not there answers 200 too, with nothing affected.
        return TypedResults.Ok(await secrets.DeleteAsync(project.ProjectId, project.ProjectName, secret, Caller.Of(http).Actor, ct)
            ? new ActionResponse(1, $"secret '{secret}' of project '{name}' deleted")
            : new ActionResponse(0, $"project '{name}' has no secret '{secret}'; nothing deleted"));
    }

    private static IResult? Invalid(string secret) =>
        secret.StartsWith("KILN_", StringComparison.Ordinal)
            ? ApiProblems.Invalid("secret", $"'{secret}': KILN_* variables are Kiln's own; name the secret otherwise")
        : Names.SecretName().IsMatch(secret)
            ? null
            : ApiProblems.Invalid("secret", $"'{(secret.Length > 40 ? secret[..40] + "…" : secret)}' is not a secret name: upper-case letters, digits and '_', not starting with a digit, at most 100");

    /// <summary>The body, at most <see cref="SecretBox.MaxValueBytes"/> bytes (a body without Content-Length is counted as it arrives).</summary>
    private static async Task<(byte[] Bytes, bool TooLarge)> ReadBodyAsync(Stream body, CancellationToken ct)
    {
        var buffer = new byte[SecretBox.MaxValueBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), ct)) > 0)
        {
            length += read;
        }
        if (length > SecretBox.MaxValueBytes)
        {
            Array.Clear(buffer);
            return ([], true);
        }
        var bytes = buffer[..length];
        Array.Clear(buffer);
        return (bytes, false);
    }
}
