using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.Store.Engine;

/// <summary>The stored form of <see cref="JobExecution"/> (<c>work_requests.execution</c>): the API's camelCase JSON.</summary>
public static class ExecutionJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public static string Serialize(JobExecution execution) => JsonSerializer.Serialize(execution, Options);

    public static JobExecution? Deserialize(string? json) => json is null ? null : JsonSerializer.Deserialize<JobExecution>(json, Options);
}
