using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Kiln.Store.Workers;
using Kiln.Testing;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// The stores over a fresh database with a <see cref="FakeTimeProvider"/>, for tests where
/// time matters (leases, backoff, timeouts) and must not be waited for.
/// </summary>
public sealed class EngineFixture : IAsyncLifetime
{
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    public NpgsqlDataSource DataSource { get; private set; } = null!;
    public SubmissionStore Submissions { get; private set; } = null!;
    public ClaimStore Claims { get; private set; } = null!;
    public ReportStore Reports { get; private set; } = null!;
    public LeaseReaper Reaper { get; private set; } = null!;
    public QueryStore Queries { get; private set; } = null!;
    public GraphActions Actions { get; private set; } = null!;
    public WorkerStore Workers { get; private set; } = null!;
    public WorkflowPlanner Planner { get; } = new();

    public async Task InitializeAsync()
    {
        DataSource = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("engine"));
        Submissions = new(DataSource, Time);
        Claims = new(DataSource, Time);
        Reports = new(DataSource, Time);
        Reaper = new(DataSource, Time);
        Queries = new(DataSource);
        Actions = new(DataSource, Time);
        Workers = new(DataSource, Time);
    }

    public async Task DisposeAsync() => await DataSource.DisposeAsync();

    public async Task<long> SubmitAsync(WorkflowDocument doc)
    {
        var (plan, errors) = Planner.Plan(doc);
        Assert.True(plan is not null, string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")));
        return (await Submissions.SubmitAsync(plan!, "{}", default)).WorkflowId;
    }

    public async Task<WorkerIdentity> WorkerAsync(string name, string[]? architectures = null, string[]? tags = null, string[]? queues = null)
    {
        var (_, secret) = await Workers.RegisterAsync(new RegisterWorkerRequest(name, architectures ?? ["amd64"], tags ?? [], queues ?? ["builds"], 4), default);
        return (await Workers.AuthenticateAsync(secret, default))!;
    }

    public async Task<IReadOnlyList<Assignment>> ClaimAsync(WorkerIdentity worker, int slots = 1)
    {
        var claimed = await Claims.ClaimAsync(worker, slots, Lease, default);
        foreach (var a in claimed)
        {
            _claimants[a.LeaseToken] = worker.Id;
        }
        return claimed;
    }

    /// <summary>The worker that claimed the attempt (through <see cref="ClaimAsync"/>): reports are fenced on it.</summary>
    public long WorkerOf(Assignment a) => _claimants[a.LeaseToken];

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, long> _claimants = new();

    public async Task<Assignment> ClaimOneAsync(WorkerIdentity worker) => Assert.Single(await ClaimAsync(worker));

    public Task<ReportResult> CompleteAsync(Assignment a, AttemptEnd end = AttemptEnd.Succeeded, int? exitCode = 0) =>
        Reports.ReportAsync(WorkerOf(a), a.WorkRequestId, a.LeaseToken, end, exitCode, null, default);

    public async Task<WorkflowView> WorkflowAsync(long id) => (await Queries.GetWorkflowAsync(id, default))!;

    public async Task<string> StateOfAsync(long workflowId, string job) =>
        (await WorkflowAsync(workflowId)).Jobs!.Single(j => j.Name == job).State;

    public static WorkflowDocument Doc(params (string Name, string[] Needs)[] jobs) => new()
    {
        Jobs = jobs.ToDictionary(j => j.Name, j => new JobDocument { Run = $"echo {j.Name}", Needs = [.. j.Needs] }),
    };
}
