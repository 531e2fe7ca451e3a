using Kiln.Contracts;
using Kiln.Server.Notices;
using Kiln.Server.Security;
using Kiln.Store.Notices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/notices</c>: operator notices (incidents, maintenance), and the <c>Kiln-Notice</c>
/// header every API response carries while one is active. Anyone lists them; posting and
/// clearing are a farm admin's.
/// </summary>
public static class NoticesApi
{
    /// <summary>Longest notice text, in characters: one line a terminal can show.</summary>
    public const int MaxTextLength = 500;

    private const int BodyMaxBytes = 16 * 1024;

    private static readonly string[] Severities = ["info", "warning", "critical"];

    public static IEndpointRouteBuilder MapNoticesApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/notices").WithTags("Notices");
        group.MapGet("/", async (NoticeStore store, bool? upcoming, CancellationToken ct) =>
                TypedResults.Ok(upcoming == true ? await store.UpcomingAsync(ct) : await store.ActiveAsync(ct)))
            .Produces<IReadOnlyList<NoticeView>>()
            .Allow(AccessPolicy.Read)
            .WithSummary("Active notices, most severe first; ?upcoming=true lists every notice not yet ended, by start.");
        group.MapPost("/", PostAsync)
            .Allow(AccessPolicy.Admin)
            .Accepts<PostNoticeRequest>("application/json")
            .Produces<NoticeView>(StatusCodes.Status201Created)
            .WithSummary("Post a notice: severity info|warning|critical, text (one line, at most 500 characters), optional startsAt and endsAt.");
        group.MapDelete("/{id:long}", async (long id, NoticeStore store, NoticeBoard board, CancellationToken ct) =>
            {
                if (!await store.ClearAsync(id, ct))
                {
                    return ApiProblems.NotFound($"notice {id} does not exist");
                }
                board.Invalidate();
                return TypedResults.Ok(new ActionResponse(1, $"notice {id} cleared"));
            })
            .Produces<ActionResponse>()
            .Allow(AccessPolicy.Admin)
            .WithSummary("Clear one notice.");
        group.MapDelete("/", async (NoticeStore store, NoticeBoard board, CancellationToken ct) =>
            {
                var cleared = await store.ClearAllAsync(ct);
                board.Invalidate();
                return TypedResults.Ok(new ActionResponse(cleared, cleared == 1 ? "1 notice cleared" : $"{cleared} notices cleared"));
            })
            .Produces<ActionResponse>()
            .Allow(AccessPolicy.Admin)
            .WithSummary("Clear every notice.");
        return routes;
    }

    /// <summary>
    /// Adds the <c>Kiln-Notice</c> header to every response, from the in-process cache (no query
    /// per request). Added when the response starts, so error answers carry it too.
    /// </summary>
    public static IApplicationBuilder UseNoticeHeader(this IApplicationBuilder app)
    {
        var board = app.ApplicationServices.GetService(typeof(NoticeBoard)) as NoticeBoard
            ?? throw new InvalidOperationException("NoticeBoard is not registered");
        return app.Use(async (context, next) =>
        {
            if (await board.HeaderAsync(context.RequestAborted) is { } header)
            {
                context.Response.OnStarting(static state =>
                {
                    var (response, value) = ((HttpResponse, string))state;
                    response.Headers[NoticeHeader.Name] = value;
                    return Task.CompletedTask;
                }, (context.Response, header));
            }
            await next(context);
        });
    }

    private static async Task<IResult> PostAsync(HttpRequest request, NoticeStore store, NoticeBoard board, TimeProvider time, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<PostNoticeRequest>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var now = time.GetUtcNow();
        var errors = new List<Core.ValidationError>();
        if (body!.Severity is null || !Severities.Contains(body.Severity))
        {
            errors.Add(new("severity", "must be info, warning or critical"));
        }
        if (TextProblem(body.Text) is { } textProblem)
        {
            errors.Add(new("text", textProblem));
        }
        var starts = body.StartsAt ?? now;
        if (starts > now.AddYears(10) || starts < now.AddYears(-10))
        {
            errors.Add(new("startsAt", "must be within ten years of now"));
        }
        if (body.EndsAt is { } ends && (ends <= starts || ends <= now))
        {
            errors.Add(new("endsAt", "must be in the future and after startsAt"));
        }
        else if (body.EndsAt > now.AddYears(10))
        {
            errors.Add(new("endsAt", "must be within ten years of now"));
        }
        if (errors.Count > 0)
        {
            return ApiProblems.Invalid(errors);
        }
        var notice = await store.PostAsync(body.Severity!, body.Text, starts, body.EndsAt, ct);
        board.Invalidate();
        return TypedResults.Created($"/api/v1/notices/{notice.Id}", notice);
    }

    /// <summary>Why the text cannot be shown as one line in a terminal and a header, or null.</summary>
    internal static string? TextProblem(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "is required";
        }
        if (text.Length > MaxTextLength)
        {
            return $"at most {MaxTextLength} characters (this has {text.Length})";
        }
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
            {
                return $"no control characters or line breaks (found U+{(int)c:X4} at position {i + 1}): a notice is one line";
            }
            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    i++;
                    continue;
                }
                return $"is not valid Unicode (a lone surrogate at position {i + 1})";
            }
        }
        return null;
    }
}
