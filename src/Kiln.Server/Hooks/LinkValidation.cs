using System.Text.RegularExpressions;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Api;
using Kiln.Store.Events;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Hooks;

/// <summary>A link request checked once, at the edge: every field bounded, each problem naming its field.</summary>
internal static partial class LinkValidation
{
    public const int MinSecretLength = 16;
    public const int MaxSecretLength = 1024;
    public const int MaxTokenLength = 4096;
    public const int MaxReconcileSeconds = 7 * 24 * 3600;

    public static (LinkSpec? Spec, IResult? Problem) Check(LinkRepositoryRequest body)
    {
        var errors = new List<ValidationError>();
        if (body.Forge is not { } forge || !EventSources.Forges.Contains(forge))
        {
            errors.Add(new("forge", $"must be one of {string.Join(", ", EventSources.Forges)}"));
        }
        var repository = body.Repository?.Trim().ToLowerInvariant();
        if (repository is null || repository.Length > 255 || !Repository().IsMatch(repository)
            || (body.Forge is EventSources.GitHub or EventSources.Forgejo && repository.Count(c => c == '/') != 1))
        {
            errors.Add(new("repository", body.Forge == EventSources.GitLab
                ? "must be the project's full path, group/name or group/subgroup/…/name (letters, digits, '.', '_', '-')"
                : "must be owner/name (letters, digits, '.', '_', '-')"));
        }
        if (body.Secret is not { } secret || secret.Length is < MinSecretLength or > MaxSecretLength || SafeText.Problem(secret, multiline: false) is not null)
        {
            errors.Add(new("secret", $"the webhook's secret is required: {MinSecretLength} to {MaxSecretLength} characters on one line (kiln repo link --generate-secret makes one)"));
        }
        if (body.ApiUrl is { } api && (api.Length > 500 || !Uri.TryCreate(api, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("https" or "http") || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0))
        {
            errors.Add(new("apiUrl", "must be the forge API's http(s) URL without query, fragment or credentials, at most 500 characters (https://api.github.com, https://gitlab.example/api/v4, https://codeberg.org/api/v1)"));
        }
        if (body.Token is { } token && (token.Length is 0 or > MaxTokenLength || SafeText.Problem(token, multiline: false) is not null))
        {
            errors.Add(new("token", $"must be one line of at most {MaxTokenLength} characters"));
        }
        if (body.HookId is { } hook && (body.Forge != EventSources.GitHub || hook.Length is 0 or > 20 || !hook.All(char.IsAsciiDigit)))
        {
            errors.Add(new("hookId", body.Forge != EventSources.GitHub ? "only a GitHub link has a hook id (its deliveries list)" : "must be the GitHub webhook's numeric id"));
        }
        if (body.ReconcileSeconds is { } period && (period is < 60 or > MaxReconcileSeconds || body.ApiUrl is null))
        {
            errors.Add(new("reconcileSeconds", body.ApiUrl is null
                ? "a periodic reconcile needs the forge's apiUrl"
                : $"must be 60 to {MaxReconcileSeconds} seconds"));
        }
        if (body.Report is { } report && report is not ("off" or "summary" or "jobs" or "groups"))
        {
            errors.Add(new("report", "must be off, summary, jobs or groups"));
        }
        if (body.ReportContext is { } context && (context.Length is < 1 or > 100 || !Context().IsMatch(context)))
        {
            errors.Add(new("reportContext", "must be 1 to 100 characters: letters, digits and . _ - / : [ ] ( ) + , = @ or spaces inside"));
        }
        if (body.InstallationId is { } installation && (body.Forge != EventSources.GitHub || installation.Length is 0 or > 20 || !installation.All(char.IsAsciiDigit)))
        {
            errors.Add(new("installationId", body.Forge != EventSources.GitHub ? "only a GitHub link has an App installation" : "must be the GitHub App installation's numeric id"));
        }
        if (errors.Count > 0)
        {
            return (null, ApiProblems.Invalid(errors));
        }
        return (new LinkSpec(body.Forge!, repository!, body.Secret!, body.ApiUrl?.TrimEnd('/'), body.Token, body.HookId, body.ReconcileSeconds,
            body.Report ?? "summary", body.ReportContext ?? "kiln", body.InstallationId), null);
    }

    [GeneratedRegex(@"^[A-Za-z0-9_.\-/:\[\]()+,=@]([A-Za-z0-9_.\-/:\[\]()+,=@ ]*[A-Za-z0-9_.\-/:\[\]()+,=@])?$")]
    private static partial Regex Context();

    [GeneratedRegex("^[a-z0-9_.][a-z0-9_.-]*(/[a-z0-9_.][a-z0-9_.-]*)+$")]
    private static partial Regex Repository();
}
