using Kiln.Contracts;

namespace Kiln.Core;

/// <summary>
/// Turns a submitted <see cref="WorkflowDocument"/> into a <see cref="WorkflowPlan"/>: validates
/// every field against <see cref="WorkflowLimits"/>, rejects cycles and unknown <c>needs</c>,
/// expands matrices and orders work requests so that each one's dependencies come first.
/// Pure: no I/O, every error names its field.
/// </summary>
public sealed class WorkflowPlanner(WorkflowLimits limits)
{
    public WorkflowPlanner() : this(WorkflowLimits.Default) { }

    public WorkflowLimits Limits => limits;

    /// <summary>Returns the plan, or the errors that prevent one (never both).</summary>
    public (WorkflowPlan? Plan, IReadOnlyList<ValidationError> Errors) Plan(WorkflowDocument? doc)
    {
        var errors = new List<ValidationError>();
        if (doc is null)
        {
            return (null, [new("", "the body must be a workflow document (a JSON object with 'jobs')")]);
        }

        var project = doc.Project ?? Names.DefaultProject;
        CheckIdentifier(errors, "project", project);
        var name = doc.Name ?? "workflow";
        if (name.Length is 0 || name.Length > limits.MaxNameLength)
        {
            errors.Add(new("name", $"must be 1 to {limits.MaxNameLength} characters"));
        }
        else if (SafeText.Problem(name, multiline: false) is { } nameProblem)
        {
            errors.Add(new("name", $"a name is one line of text; it {nameProblem}"));
        }
        if (doc.IdempotencyKey is { } key && (key.Length is 0 || key.Length > 200 || SafeText.Problem(key, multiline: false) is not null))
        {
            errors.Add(new("idempotencyKey", "must be 1 to 200 characters of one line of text"));
        }
        var trigger = doc.Trigger ?? FairShare.DefaultTrigger;
        if (!FairShare.TriggerPriority.TryGetValue(trigger, out var triggerPriority))
        {
            errors.Add(new("trigger", $"'{Truncate(trigger)}' is not a trigger; use one of {string.Join(", ", FairShare.TriggerPriority.Keys)}"));
        }
        var workflowPriority = doc.Priority ?? 0;
        if (workflowPriority < -limits.MaxPriority || workflowPriority > limits.MaxPriority)
        {
            errors.Add(new("priority", $"must be between -{limits.MaxPriority} and {limits.MaxPriority}"));
        }
        if (doc.Jobs is null || doc.Jobs.Count == 0)
        {
            errors.Add(new("jobs", "a workflow needs at least one job"));
            return (null, errors);
        }

        if (doc.Branch is { } branch && (branch.Length is 0 || branch.Length > 200 || SafeText.Problem(branch, multiline: false) is not null))
        {
            errors.Add(new("branch", "must be 1 to 200 characters of one line of text"));
        }
        if (doc.Timeout is { } workflowTimeout && (workflowTimeout < 1 || workflowTimeout > limits.MaxWorkflowTimeoutSeconds))
        {
            errors.Add(new("timeout", $"a workflow's timeout is 1 to {limits.MaxWorkflowTimeoutSeconds} seconds"));
        }
        var parameters = WorkflowParameters.Resolve(errors, doc, limits);
        var jobNames = doc.Jobs.Keys.ToList();
        foreach (var (jobName, job) in doc.Jobs)
        {
            CheckIdentifier(errors, $"jobs.{jobName}", jobName);
            if (job is null)
            {
                errors.Add(new($"jobs.{jobName}", "must be an object with at least 'run'"));
                continue;
            }
            CheckNeeds(errors, jobName, job, doc.Jobs);
        }
        var concurrency = parameters is null ? null : WorkflowConcurrency.Resolve(errors, doc, name, parameters.Values);
        if (errors.Count > 0 || parameters is null)
        {
            return (null, errors);
        }
        var conditions = new Dictionary<string, ConditionExpression>();
        foreach (var (jobName, job) in doc.Jobs)
        {
            if (JobCondition.Parse(errors, jobName, job, parameters) is { } condition)
            {
                conditions[jobName] = condition;
            }
        }
        var defaults = parameters.Substitute(errors, doc.Defaults);
        var jobs = doc.Jobs.ToDictionary(j => j.Key, j => parameters.Substitute(errors, j.Key, j.Value));
        if (errors.Count > 0)
        {
            return (null, errors);
        }

        var order = TopologicalOrder(jobNames, jobs, errors);
        if (order is null)
        {
            return (null, errors);
        }

        var context = new Dictionary<string, string>(StringComparer.Ordinal) { ["trigger"] = trigger, ["branch"] = doc.Branch ?? "" };
        foreach (var (k, v) in parameters.Values)
        {
            context[$"params.{k}"] = v;
        }
        var budget = new ExpansionBudget(limits);
        var expansion = new MatrixExpansion(limits);
        var planned = new List<PlannedWorkRequest>();
        var omitted = new List<string>();
        var expanded = new Dictionary<string, MatrixNeeds.Expanded>();
        long edges = 0, built = 0;
        foreach (var jobName in order)
        {
            var job = jobs[jobName];
            var combos = expansion.Expand(errors, jobName, job.Matrix);
            if (combos is null)
            {
                continue;
            }
            built += combos.Count;
            if (built > limits.MaxWorkRequests)
            {
                errors.Add(new("jobs", $"the workflow expands to more than {limits.MaxWorkRequests} work requests; split it"));
                return (null, errors);
            }
            var axes = (IReadOnlyCollection<string>?)job.Matrix?.Keys ?? [];
            var needs = MatrixNeeds.Resolve(errors, jobName, job.Needs ?? [], axes, combos, expanded, ref edges, limits.MaxEdges);
            if (needs is null)
            {
                return (null, errors);
            }
            if (!budget.Admit(errors, jobName, job, defaults, combos))
            {
                continue;
            }
            var entries = new List<MatrixNeeds.Entry>(combos.Count);
            for (var i = 0; i < combos.Count; i++)
            {
                var combo = combos[i];
                // Built even when its condition is false: a mistake in the job is refused on every branch, not only where it runs.
                var request = BuildRequest(errors, jobName, job, defaults, combo, needs[i], workflowPriority + triggerPriority);
                if (request is null)
                {
                    // The other combinations would repeat the same complaints.
                    break;
                }
                if (conditions.TryGetValue(jobName, out var condition) && !condition.Evaluate(JobCondition.Values(context, combo)))
                {
                    omitted.Add(request.Name);
                    entries.Add(new(combo, needs[i]));
                    continue;
                }
                entries.Add(new(combo, [planned.Count]));
                planned.Add(request);
            }
            expanded[jobName] = new(axes, entries);
        }
        if (errors.Count == 0 && planned.Count == 0)
        {
            errors.Add(new("jobs", "every job's 'if' is false for this submission, so there is nothing to run"));
        }

        // A bad field of a matrix job is reported once, not once per combination.
        return errors.Count > 0
            ? (null, errors.Distinct().ToList())
            : (new WorkflowPlan(name, project, doc.IdempotencyKey, planned, trigger) { Omitted = omitted, TimeoutSeconds = doc.Timeout, Concurrency = concurrency }, []);
    }

    private void CheckIdentifier(List<ValidationError> errors, string field, string value)
    {
        if (value.Length is 0 || value.Length > limits.MaxNameLength || !Names.Identifier().IsMatch(value))
        {
            errors.Add(new(field, $"'{Truncate(value)}' is not a valid name: use 1 to {limits.MaxNameLength} letters, digits, '.', '_' or '-', starting with a letter or digit"));
        }
    }

    private static void CheckNeeds(List<ValidationError> errors, string jobName, JobDocument job, Dictionary<string, JobDocument> jobs)
    {
        var needs = job.Needs ?? [];
        for (var i = 0; i < needs.Count; i++)
        {
            var need = needs[i] is { } written ? MatrixNeeds.Target(written) : null;
            if (need == jobName)
            {
                errors.Add(new($"jobs.{jobName}.needs[{i}]", $"job '{jobName}' cannot need itself"));
            }
            else if (need is null || !jobs.ContainsKey(need))
            {
                var hint = need is not null && need.Contains('[', StringComparison.Ordinal) ? $" (name a job, or every entry of one as JOB{MatrixNeeds.AllEntries})" : "";
                errors.Add(new($"jobs.{jobName}.needs[{i}]", $"unknown job '{Truncate(need ?? "")}'{hint}; known jobs: {string.Join(", ", jobs.Keys.Take(10))}"));
            }
        }
    }

    /// <summary>Kahn's algorithm over jobs (not expanded requests: a matrix never adds a cycle).</summary>
    private static List<string>? TopologicalOrder(List<string> jobNames, Dictionary<string, JobDocument> jobs, List<ValidationError> errors)
    {
        var indegree = jobNames.ToDictionary(n => n, n => jobs[n].Needs?.Select(MatrixNeeds.Target).Distinct().Count() ?? 0);
        var dependents = jobNames.ToDictionary(n => n, _ => new List<string>());
        foreach (var name in jobNames)
        {
            foreach (var need in jobs[name].Needs?.Select(MatrixNeeds.Target).Distinct() ?? [])
            {
                dependents[need].Add(name);
            }
        }
        var ready = new Queue<string>(jobNames.Where(n => indegree[n] == 0));
        var order = new List<string>(jobNames.Count);
        while (ready.TryDequeue(out var name))
        {
            order.Add(name);
            foreach (var dependent in dependents[name])
            {
                if (--indegree[dependent] == 0)
                {
                    ready.Enqueue(dependent);
                }
            }
        }
        if (order.Count == jobNames.Count)
        {
            return order;
        }
        errors.Add(new("jobs", $"the needs form a cycle: {string.Join(" → ", FindCycle(jobNames.Where(n => indegree[n] > 0).ToHashSet(), jobs))}"));
        return null;
    }

    /// <summary>Walks needs among the jobs left over by Kahn's algorithm until a name repeats.</summary>
    private static IEnumerable<string> FindCycle(HashSet<string> remaining, Dictionary<string, JobDocument> jobs)
    {
        var path = new List<string>();
        var seen = new Dictionary<string, int>();
        var current = remaining.First();
        while (!seen.ContainsKey(current))
        {
            seen[current] = path.Count;
            path.Add(current);
            current = jobs[current].Needs!.Select(MatrixNeeds.Target).First(remaining.Contains);
        }
        return path.Skip(seen[current]).Append(current);
    }

    private PlannedWorkRequest? BuildRequest(
        List<ValidationError> errors, string jobName, JobDocument job, JobDefaults? defaults,
        Dictionary<string, string> combo, IReadOnlyList<int> needs, int inheritedPriority)
    {
        var field = $"jobs.{jobName}";
        var before = errors.Count;
        string Substitute(string value, string where) => Names.MatrixReference().Replace(value, m =>
        {
            if (combo.TryGetValue(m.Groups[1].Value, out var v))
            {
                return v;
            }
            errors.Add(new($"{field}.{where}", $"'{m.Value}' names no axis of this job's matrix"));
            return m.Value;
        });

        var kind = job.Uses is { } uses ? Kinds.BuiltInKinds.Find(uses) : null;
        if (job.Uses is not null && kind is null)
        {
            errors.Add(new($"{field}.uses", $"'{Truncate(job.Uses)}' is not a built-in kind; the kinds are {string.Join(", ", Kinds.BuiltInKinds.Kinds.Select(k => k.Name))}"));
        }
        if (job.Uses is null && job.With is { Count: > 0 })
        {
            errors.Add(new($"{field}.with", "'with' gives a built-in kind its parameters; this job names no kind in 'uses'"));
        }
        var run = kind is not null ? kind.Script : job.Run;
        if (kind is not null && !string.IsNullOrEmpty(job.Run))
        {
            errors.Add(new($"{field}.run", $"a job either runs its own script or uses a built-in kind, not both (it uses {kind.Name})"));
        }
        else if (kind is { Runner: Kinds.KindRunner.Server })
        {
            run = "";
        }
        else if (string.IsNullOrWhiteSpace(run))
        {
            errors.Add(new($"{field}.run", "every job needs a 'run' script (or 'uses' a built-in kind)"));
            run = "";
        }
        else if (kind is null && System.Text.Encoding.UTF8.GetByteCount(run) > limits.MaxScriptBytes)
        {
            errors.Add(new($"{field}.run", $"the script is larger than {limits.MaxScriptBytes} bytes; put it in a file the job fetches"));
        }
        // A kind's script is ours and takes its parameters from the environment, never as spliced text.
        run = kind is null ? Substitute(run ?? "", "run") : run ?? "";

        var env = new Dictionary<string, string>(defaults?.Env ?? []);
        foreach (var (k, v) in job.Env ?? [])
        {
            env[k] = v;
        }
        if (env.Count > limits.MaxEnvEntries)
        {
            errors.Add(new($"{field}.env", $"at most {limits.MaxEnvEntries} variables"));
        }
        foreach (var k in env.Keys.ToList())
        {
            if (!Names.EnvironmentVariable().IsMatch(k) || k.Length > limits.MaxNameLength)
            {
                errors.Add(new($"{field}.env.{Truncate(k)}", "is not a valid environment variable name"));
            }
            else if ((env[k] ?? "").Length > limits.MaxEnvValueLength)
            {
                errors.Add(new($"{field}.env.{k}", $"values are at most {limits.MaxEnvValueLength} characters"));
            }
            else
            {
                env[k] = Substitute(env[k] ?? "", $"env.{k}");
            }
        }
        foreach (var (axis, value) in combo)
        {
            env.TryAdd($"KILN_MATRIX_{axis.ToUpperInvariant().Replace('-', '_').Replace('.', '_')}", value);
        }
        var with = kind is null ? null : KindParameters(errors, field, kind, job.With, Substitute, env);

        // Defaults apply field by field: a job that sets only its tags keeps the default architecture.
        var requires = job.Requires;
        var requiredArchitecture = requires?.Architecture ?? defaults?.Requires?.Architecture
            ?? (kind?.ArchitectureParameter is { } ap && with is not null ? with.GetValueOrDefault(ap) : null);
        var architecture = requiredArchitecture is { } a ? Substitute(a, "requires.architecture") : null;
        if (architecture is not null && (architecture.Length > limits.MaxNameLength || !Names.Identifier().IsMatch(architecture)))
        {
            errors.Add(new($"{field}.requires.architecture", $"'{Truncate(architecture)}' is not an architecture name"));
        }
        var tags = (requires?.Tags ?? defaults?.Requires?.Tags ?? []).Select(t => Substitute(t ?? "", "requires.tags")).Distinct().Order(StringComparer.Ordinal).ToList();
        if (tags.Count > limits.MaxTags || tags.Any(t => t.Length > limits.MaxNameLength || !Names.Identifier().IsMatch(t)))
        {
            errors.Add(new($"{field}.requires.tags", $"at most {limits.MaxTags} tags, each a name"));
        }
        var queue = requires?.Queue ?? kind?.Queue ?? defaults?.Requires?.Queue ?? Names.DefaultQueue;
        if (!Names.Identifier().IsMatch(queue) || queue.Length > limits.MaxNameLength)
        {
            errors.Add(new($"{field}.requires.queue", $"'{Truncate(queue)}' is not a queue name"));
        }

        var timeout = job.Timeout ?? defaults?.Timeout ?? limits.DefaultTimeoutSeconds;
        if (timeout < 1 || timeout > limits.MaxTimeoutSeconds)
        {
            errors.Add(new($"{field}.timeout", $"must be 1 to {limits.MaxTimeoutSeconds} seconds"));
        }
        var retry = job.Retry;
        var maxAttempts = retry?.MaxAttempts ?? defaults?.Retry?.MaxAttempts ?? 3;
        if (maxAttempts < 1 || maxAttempts > limits.MaxAttempts)
        {
            errors.Add(new($"{field}.retry.maxAttempts", $"must be 1 to {limits.MaxAttempts}"));
        }
        var backoff = retry?.BackoffSeconds ?? defaults?.Retry?.BackoffSeconds ?? 10;
        if (backoff is < 0 or > 3600)
        {
            errors.Add(new($"{field}.retry.backoffSeconds", "must be 0 to 3600"));
        }
        var priority = job.Priority ?? 0;
        if (priority < -limits.MaxPriority || priority > limits.MaxPriority)
        {
            errors.Add(new($"{field}.priority", $"must be between -{limits.MaxPriority} and {limits.MaxPriority}"));
        }

        var outputs = kind is null ? job.Outputs ?? [] : [.. kind.Outputs, .. job.Outputs ?? []];
        if (outputs.Count > limits.MaxOutputs)
        {
            errors.Add(new($"{field}.outputs", $"at most {limits.MaxOutputs} globs"));
        }
        for (var i = 0; i < outputs.Count; i++)
        {
            if (!IsSafeRelativeGlob(outputs[i]))
            {
                errors.Add(new($"{field}.outputs[{i}]", "must be a relative path or glob inside the working directory (no '..', no leading '/')"));
            }
        }

        var secrets = JobSecrets.Check(errors, field, job.Secrets, env, limits.MaxSecrets);
        var environmentName = job.Environment ?? defaults?.Environment;
        var execution = Execution(errors, field, job, defaults, kind, with, environmentName is null ? null : Substitute(environmentName, "environment"));

        if (errors.Count > before)
        {
            return null;
        }
        var name = MatrixExpansion.EntryName(jobName, combo);
        return new PlannedWorkRequest(
            name, jobName, run, env, outputs, architecture, tags, queue, timeout, maxAttempts,
            retry?.OnFailure ?? defaults?.Retry?.OnFailure ?? false, backoff, priority + inheritedPriority, needs, job.AllowFailure ?? false)
        {
            Secrets = secrets,
            Execution = execution,
        };
    }

    /// <summary>Checks a kind's <c>with:</c> against its parameters and puts each value in the task's environment.</summary>
    private static Dictionary<string, string> KindParameters(
        List<ValidationError> errors, string field, Kinds.BuiltInKind kind, Dictionary<string, string>? given,
        Func<string, string, string> substitute, Dictionary<string, string> env)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in (given ?? []).Keys)
        {
            if (!kind.Parameters.Any(p => p.Name == name))
            {
                errors.Add(new($"{field}.with.{Truncate(name)}", $"{kind.Name} takes no parameter '{Truncate(name)}'; it takes {string.Join(", ", kind.Parameters.Select(p => p.Name))}"));
            }
        }
        foreach (var parameter in kind.Parameters)
        {
            string? value = given is not null && given.TryGetValue(parameter.Name, out var v) ? substitute(v ?? "", $"with.{parameter.Name}") : parameter.Default;
            if (value is null || (parameter.Required && value.Length == 0))
            {
                errors.Add(new($"{field}.with.{parameter.Name}", $"{kind.Name} needs '{parameter.Name}': {parameter.Description}"));
                continue;
            }
            if (value.Length > 0 && !parameter.Pattern.IsMatch(value))
            {
                errors.Add(new($"{field}.with.{parameter.Name}", $"'{Truncate(value)}' is not a valid value ({parameter.Description})"));
                continue;
            }
            values[parameter.Name] = value;
            env[Kinds.BuiltInKinds.VariableFor(parameter.Name)] = value;
        }
        env["KILN_KIND"] = kind.Name;
        return values;
    }

    private static PlannedExecution? Execution(
        List<ValidationError> errors, string field, JobDocument job, JobDefaults? defaults, Kinds.BuiltInKind? kind, Dictionary<string, string>? with,
        string? environment)
    {
        if (environment is not null && !Names.EnvironmentName().IsMatch(environment))
        {
            errors.Add(new($"{field}.environment", $"'{Truncate(environment)}' is not an environment name (DISTRIBUTION/NAME, e.g. debian/bookworm-amd64)"));
        }
        if (kind is { NeedsEnvironment: true } && environment is null)
        {
            errors.Add(new($"{field}.environment", $"{kind.Name} runs in an environment: name one, e.g. 'environment: debian/bookworm-amd64' (kiln env list)"));
        }
        if (kind is { NeedsEnvironment: false } && job.Environment is not null)
        {
            errors.Add(new($"{field}.environment", $"{kind.Name} does not run in an environment"));
        }
        if (kind is { NeedsEnvironment: false })
        {
            environment = null;
        }
        var requires = job.Requires;
        var memory = Kinds.BuiltInKinds.ParseSize(requires?.Memory ?? defaults?.Requires?.Memory);
        var disk = Kinds.BuiltInKinds.ParseSize(requires?.Disk ?? defaults?.Requires?.Disk);
        var processes = requires?.Processes ?? defaults?.Requires?.Processes;
        if (memory is not null && memory is < (16L << 20) or > (1L << 40))
        {
            errors.Add(new($"{field}.requires.memory", "must be a size from 16MiB to 1TiB, such as 4GiB"));
        }
        if (disk is not null && disk is < (16L << 20) or > (16L << 40))
        {
            errors.Add(new($"{field}.requires.disk", "must be a size from 16MiB to 16TiB, such as 10GiB"));
        }
        if (processes is not null && processes is < 8 or > 1_000_000)
        {
            errors.Add(new($"{field}.requires.processes", "must be 8 to 1000000"));
        }
        if (environment is null && (memory ?? disk ?? (long?)processes) is not null)
        {
            errors.Add(new($"{field}.requires", "memory, processes and disk limits apply to a job in an environment: name one with 'environment:'"));
        }
        if (environment is null && job.Network is not null)
        {
            errors.Add(new($"{field}.network", "'network' applies to a job in an environment; a job on the host has the host's network"));
        }
        if (environment is null && kind is null)
        {
            return null;
        }
        var limits = environment is null ? null : new Kiln.Contracts.JobLimits(
            memory ?? Kiln.Contracts.JobLimits.Default.MemoryBytes,
            processes ?? Kiln.Contracts.JobLimits.Default.Processes,
            disk ?? Kiln.Contracts.JobLimits.Default.DiskBytes);
        return new PlannedExecution(kind?.Name, with, environment, job.Network ?? kind?.Network ?? false,
            kind?.Runner is Kinds.KindRunner.OnHostWithEnvironment, limits);
    }


    private static bool IsSafeRelativeGlob(string? glob) =>
        !string.IsNullOrWhiteSpace(glob) && glob.Length <= 256 && !glob.StartsWith('/') && !glob.Contains('\\')
        && !glob.Split('/').Contains("..") && !glob.Contains('\0');

    private static string Truncate(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
