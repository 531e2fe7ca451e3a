using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.EndToEnd.Tests;

/// <summary>Acting as a worker against an in-process server, without a worker process.</summary>
public static class ClaimedTask
{
    /// <summary>A fresh worker (own queue, so tests do not take each other's work) holding one claimed task.</summary>
    public static async Task<(KilnClient Worker, Assignment Task)> ClaimOneAsync(this ServerFixture server, string name, string run = "true")
    {
        var queue = $"q-{name}";
        using var anonymous = new KilnClient(server.NewClient());
        await anonymous.SubmitAsync(new WorkflowDocument
        {
            Name = name,
            Jobs = new() { ["job"] = new JobDocument { Run = run, Requires = new JobRequirements { Queue = queue } } },
        }, CancellationToken.None);
        var http = await server.RegisterWorkerAsync(name, queues: [queue]);
        var worker = new KilnClient(http, http.DefaultRequestHeaders.Authorization!.Parameter, ownsHttp: true);
        var claim = await worker.ClaimAsync(new ClaimRequest(1, 5), CancellationToken.None);
        return (worker, Assert.Single(claim.Assignments));
    }
}
