using Kiln.Contracts;

namespace Kiln.Core;

/// <summary>
/// A workflow's declared <c>parameters</c> and the values a submission gives them
/// (<c>params</c>): every supplied name must be declared, every declared one without a default
/// must be supplied, a value must be one of <c>values</c> when those are listed. Values are one
/// line of text of bounded length and never contain <c>${{</c>, so substituting them cannot
/// create another reference. <see cref="Substitute"/> replaces <c>${{ params.NAME }}</c> in a
/// job's <c>run</c>, <c>env</c> and <c>requires</c> before the matrix is expanded, so the
/// expansion budget measures the text that will really be stored.
/// </summary>
public sealed class WorkflowParameters
{
    private readonly IReadOnlyDictionary<string, string> _values;
    private readonly long _maxGrowth;
    private long _growth;
    private bool _grewTooMuch;

    private WorkflowParameters(IReadOnlyDictionary<string, string> values, long maxGrowth)
    {
        _values = values;
        _maxGrowth = maxGrowth;
    }

    /// <summary>Each parameter's value for this submission.</summary>
    public IReadOnlyDictionary<string, string> Values => _values;

    /// <summary>The resolved values, or null with errors naming <c>parameters.NAME</c> or <c>params.NAME</c>.</summary>
    public static WorkflowParameters? Resolve(List<ValidationError> errors, WorkflowDocument doc, WorkflowLimits limits)
    {
        var before = errors.Count;
        var declared = doc.Parameters ?? [];
        var supplied = doc.Params ?? [];
        if (declared.Count > limits.MaxParameters)
        {
            errors.Add(new("parameters", $"at most {limits.MaxParameters} parameters"));
            return null;
        }
        if (supplied.Count > limits.MaxParameters)
        {
            errors.Add(new("params", $"at most {limits.MaxParameters} values"));
            return null;
        }
        string? Problem(string? value)
        {
            if (value is null)
            {
                return "needs a value";
            }
            if (value.Length > limits.MaxParameterValueLength)
            {
                return $"a value is at most {limits.MaxParameterValueLength} characters";
            }
            if (SafeText.Problem(value, multiline: false) is { } problem)
            {
                return $"a value is one line of text; it {problem}";
            }
            return value.Contains("${{", StringComparison.Ordinal) ? "a value cannot contain '${{'" : null;
        }

        foreach (var (name, parameter) in declared)
        {
            var field = $"parameters.{name}";
            if (name.Length > limits.MaxNameLength || !Names.Identifier().IsMatch(name))
            {
                errors.Add(new(field, $"'{Cut(name)}' is not a valid parameter name: letters, digits, '.', '_' or '-'"));
                continue;
            }
            if (parameter?.Default is { } d && Problem(d) is { } defaultProblem)
            {
                errors.Add(new($"{field}.default", defaultProblem));
            }
            if (parameter?.Values is { } allowed)
            {
                if (allowed.Count is 0 || allowed.Count > limits.MaxParameterValues)
                {
                    errors.Add(new($"{field}.values", $"list 1 to {limits.MaxParameterValues} allowed values, or leave 'values' out"));
                }
                else if (allowed.Select(Problem).FirstOrDefault(p => p is not null) is { } valueProblem)
                {
                    errors.Add(new($"{field}.values", valueProblem));
                }
                else if (parameter.Default is { } def && !allowed.Contains(def))
                {
                    errors.Add(new($"{field}.default", $"'{Cut(def)}' is not one of the allowed values ({List(allowed)})"));
                }
            }
            if (parameter?.Description is { } description && (description.Length > 1000 || SafeText.Problem(description, multiline: true) is not null))
            {
                errors.Add(new($"{field}.description", "at most 1000 characters of text"));
            }
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in supplied)
        {
            var field = $"params.{Cut(name)}";
            if (!declared.TryGetValue(name, out var parameter))
            {
                errors.Add(new(field, declared.Count == 0
                    ? $"unknown parameter '{Cut(name)}': the workflow declares no parameters"
                    : $"unknown parameter '{Cut(name)}'; the workflow declares: {List(declared.Keys)}"));
            }
            else if (Problem(value) is { } problem)
            {
                errors.Add(new(field, problem));
            }
            else if (parameter?.Values is { Count: > 0 } allowed && !allowed.Contains(value))
            {
                errors.Add(new(field, $"'{Cut(value)}' is not allowed; use one of {List(allowed)}"));
            }
            else
            {
                values[name] = value;
            }
        }
        foreach (var (name, parameter) in declared)
        {
            if (!supplied.ContainsKey(name))
            {
                if (parameter?.Default is { } d)
                {
                    values[name] = d;
                }
                else
                {
                    errors.Add(new($"params.{Cut(name)}", $"parameter '{Cut(name)}' has no default and needs a value (kiln submit -p {Cut(name)}=VALUE)"));
                }
            }
        }
        return errors.Count > before ? null : new WorkflowParameters(values, limits.MaxExpandedBytes);
    }

    /// <summary>Whether <c>params.NAME</c> names a parameter of this submission.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>The defaults with parameters substituted; errors name <c>defaults.…</c>.</summary>
    public JobDefaults? Substitute(List<ValidationError> errors, JobDefaults? defaults)
    {
        if (defaults is null)
        {
            return null;
        }
        return defaults with
        {
            Env = SubstituteEnv(errors, "defaults", defaults.Env),
            Requires = SubstituteRequires(errors, "defaults", defaults.Requires),
            Environment = defaults.Environment is { } e ? Replace(errors, "defaults.environment", e) : null,
        };
    }

    /// <summary>The job with parameters substituted in <c>run</c>, <c>env</c>, <c>requires</c>, <c>environment</c> and <c>with</c>; errors name <c>jobs.NAME.…</c>.</summary>
    public JobDocument Substitute(List<ValidationError> errors, string jobName, JobDocument job)
    {
        var field = $"jobs.{jobName}";
        return job with
        {
            Run = job.Run is null ? null : Replace(errors, $"{field}.run", job.Run),
            Env = SubstituteEnv(errors, field, job.Env),
            Requires = SubstituteRequires(errors, field, job.Requires),
            Environment = job.Environment is { } e ? Replace(errors, $"{field}.environment", e) : null,
            With = job.With?.ToDictionary(kv => kv.Key, kv => kv.Value is null ? kv.Value! : Replace(errors, $"{field}.with.{kv.Key}", kv.Value)),
        };
    }

    private Dictionary<string, string>? SubstituteEnv(List<ValidationError> errors, string field, Dictionary<string, string>? env) =>
        env?.ToDictionary(kv => kv.Key, kv => kv.Value is null ? kv.Value! : Replace(errors, $"{field}.env.{kv.Key}", kv.Value));

    private JobRequirements? SubstituteRequires(List<ValidationError> errors, string field, JobRequirements? requires) => requires is null ? null : requires with
    {
        Architecture = requires.Architecture is { } a ? Replace(errors, $"{field}.requires.architecture", a) : null,
        Queue = requires.Queue is { } q ? Replace(errors, $"{field}.requires.queue", q) : null,
        Tags = requires.Tags?.Select(t => t is null ? t! : Replace(errors, $"{field}.requires.tags", t)).ToList(),
    };

    private string Replace(List<ValidationError> errors, string field, string template)
    {
        if (!template.Contains("${{", StringComparison.Ordinal))
        {
            return template;
        }
        return Names.ParameterReference().Replace(template, m =>
        {
            if (_values.TryGetValue(m.Groups[1].Value, out var value))
            {
                // Bounded like matrix expansion: a document full of references to long values must not build gigabytes.
                _growth += value.Length;
                if (_growth > _maxGrowth)
                {
                    if (_grewTooMuch)
                    {
                        return m.Value;
                    }
                    _grewTooMuch = true;
                    errors.Add(new(field, $"with the parameters substituted the workflow grows past {_maxGrowth} characters; use the values fewer times (e.g. once, in env)"));
                    return m.Value;
                }
                return value;
            }
            errors.Add(new(field, $"'{Cut(m.Value)}' names no declared parameter" + (_values.Count > 0 ? $"; declared: {List(_values.Keys)}" : "")));
            return m.Value;
        });
    }

    private static string List(IEnumerable<string> names) => string.Join(", ", names.Take(10).Select(Cut));

    private static string Cut(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
