using Npgsql;
using Kiln.Core;

namespace Kiln.Store.Engine;

/// <summary>
/// Answers workers' reports: one at a time (<see cref="ReportAsync"/>, through
/// <see cref="AttemptEnder"/>), or many successes at once (<see cref="CompleteSucceededAsync"/>,
/// through <see cref="SuccessBatch"/>). Every report is fenced by the lease token, idempotent,
/// and committed at most once per attempt.
/// </summary>
public sealed class ReportStore
{
    private readonly AttemptEnder _ender;
    private readonly SuccessBatch _batch;

    public ReportStore(NpgsqlDataSource dataSource, TimeProvider time)
    {
        _ender = new(dataSource, time);
        _batch = new(dataSource, time, _ender);
    }

    /// <summary>
    /// Ends the running attempt as worker <paramref name="workerId"/> reports it, or answers
    /// why not. Fenced on (worker, lease token): a token the worker does not hold is refused.
    /// </summary>
    public Task<ReportResult> ReportAsync(long workerId, long id, Guid token, AttemptEnd end, int? exitCode, string? message, CancellationToken ct) =>
        _ender.EndAsync(workerId, id, token, end, exitCode, message, ct);

    /// <summary>
    /// Ends many successful attempts in one round trip and one transaction; each report gets
    /// its own answer, in order.
    /// </summary>
    public Task<IReadOnlyList<ReportResult>> CompleteSucceededAsync(IReadOnlyList<SuccessReport> reports, CancellationToken ct) =>
        _batch.EndAsync(reports, ct);
}
