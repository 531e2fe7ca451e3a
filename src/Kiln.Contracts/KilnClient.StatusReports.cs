namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    /// <summary>What the forges and webhook subscribers of workflow <paramref name="id"/> were told.</summary>
    public Task<StatusReportsView> GetStatusReportsAsync(long id, CancellationToken ct) =>
        GetAsync<StatusReportsView>($"api/v1/workflows/{id}/status-reports", ct);

    /// <summary>Tries again the workflow's targets that failed for good.</summary>
    public Task<StatusReportsRetried> RetryStatusReportsAsync(long id, CancellationToken ct) =>
        SendAsync<StatusReportsRetried>(HttpMethod.Post, $"api/v1/workflows/{id}/status-reports/retry", null, DefaultCallTimeout, ct);
}
