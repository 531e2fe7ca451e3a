namespace Kiln.Contracts;

/// <summary>A project's published repositories (<c>kiln repos</c>).</summary>
public sealed partial class KilnClient
{
    public Task<IReadOnlyList<RepositoryView>> ListRepositoriesAsync(string project, CancellationToken ct) =>
        GetAsync<IReadOnlyList<RepositoryView>>($"api/v1/projects/{Uri.EscapeDataString(project)}/repositories", ct);

    public Task<RepositoryDetail> GetRepositoryAsync(string project, string suite, int? limit, string? after, CancellationToken ct)
    {
        var query = new List<string>();
        if (limit is { } n)
        {
            query.Add($"limit={n}");
        }
        if (after is not null)
        {
            query.Add($"after={Uri.EscapeDataString(after)}");
        }
        var path = $"api/v1/projects/{Uri.EscapeDataString(project)}/repositories/{Uri.EscapeDataString(suite)}";
        return GetAsync<RepositoryDetail>(query.Count == 0 ? path : $"{path}?{string.Join('&', query)}", ct);
    }
}
