namespace Kiln.Core;

/// <summary>A job's <c>secrets:</c> as the planner checks them.</summary>
internal static class JobSecrets
{
    /// <summary>
    /// The secrets a job names: valid names (as project_secrets allows), at most <paramref name="max"/>,
    /// no repeats, none of Kiln's own KILN_* variables and none the job's env also sets (which value the task would
    /// see would be a guess). Whether the project has them is the server's check, at submission.
    /// </summary>
    public static List<string> Check(List<ValidationError> errors, string field, List<string>? names, Dictionary<string, string> env, int max)
    {
        if (names is null || names.Count == 0)
        {
            return [];
        }
        if (names.Count > max)
        {
            errors.Add(new($"{field}.secrets", $"at most {max} secrets per job"));
            return [];
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < names.Count; i++)
        {
            var secret = names[i];
            if (secret is null || !Names.SecretName().IsMatch(secret))
            {
                var shown = secret is null ? "" : secret.Length <= 40 ? secret : secret[..40] + "…";
                errors.Add(new($"{field}.secrets[{i}]", $"'{shown}' is not a secret name: upper-case letters, digits and '_', not starting with a digit, at most 100"));
            }
            else if (secret.StartsWith("KILN_", StringComparison.Ordinal))
            {
                errors.Add(new($"{field}.secrets[{i}]", $"'{secret}': KILN_* variables are Kiln's own; name the secret otherwise"));
            }
            else if (!seen.Add(secret))
            {
                errors.Add(new($"{field}.secrets[{i}]", $"'{secret}' is named twice"));
            }
            else if (env.ContainsKey(secret))
            {
                errors.Add(new($"{field}.secrets[{i}]", $"'{secret}' is also set in env; a variable is either a secret or env, not both"));
            }
        }
        return [.. seen.Order(StringComparer.Ordinal)];
    }
}
