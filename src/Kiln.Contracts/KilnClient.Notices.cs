using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    /// <summary>
    /// Called with the decoded <c>Kiln-Notice</c> header (<c>severity: text</c>) of every response
    /// that carries one, from any client in the process. The CLI sets it once to print an active
    /// notice on standard error; null (the default) ignores notices.
    /// </summary>
    public static Action<string>? NoticeObserver { get; set; }

    /// <summary>Active notices, most severe first; with <paramref name="upcoming"/> every notice not yet ended, by start.</summary>
    public Task<IReadOnlyList<NoticeView>> ListNoticesAsync(bool upcoming, CancellationToken ct) =>
        GetAsync<IReadOnlyList<NoticeView>>(upcoming ? "api/v1/notices/?upcoming=true" : "api/v1/notices/", ct);

    public Task<NoticeView> PostNoticeAsync(PostNoticeRequest notice, CancellationToken ct) =>
        SendAsync<NoticeView>(HttpMethod.Post, "api/v1/notices/", JsonContent.Create(notice, options: Json), DefaultCallTimeout, ct);

    public Task<ActionResponse> ClearNoticeAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/notices/{id}", null, DefaultCallTimeout, ct);

    public Task<ActionResponse> ClearAllNoticesAsync(CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, "api/v1/notices/", null, DefaultCallTimeout, ct);

    private static void ObserveNotice(HttpResponseMessage response)
    {
        if (NoticeObserver is { } observer
            && response.Headers.TryGetValues(NoticeHeader.Name, out var values)
            && NoticeHeader.Decode(values.FirstOrDefault()) is { } notice)
        {
            observer(notice);
        }
    }
}
