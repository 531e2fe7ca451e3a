using System.Reflection;
using System.Text.RegularExpressions;

namespace Kiln.Core.Kinds;

/// <summary>One parameter of a built-in kind (<c>with:</c>): required or defaulted, and the form its value must have.</summary>
/// <param name="Pattern">Every value must match it whole; values reach the script only as environment variables, never as text spliced into it.</param>
public sealed record KindParameter(string Name, string Description, string? Default, Regex Pattern, bool Required = false);

/// <summary>How a kind runs.</summary>
public enum KindRunner
{
    /// <summary>The script runs inside a fresh copy of the job's environment (the isolated executor).</summary>
    InEnvironment,

    /// <summary>The script runs on the worker's host and gets the environment's tarball (sbuild isolates the build itself).</summary>
    OnHostWithEnvironment,

    /// <summary>The script runs on the worker's host; no environment (e.g. building an environment with mmdebstrap).</summary>
    OnHost,

    /// <summary>No script: the worker asks the server to do it under the job's lease (publishing a repository).</summary>
    Server,
}

/// <summary>
/// A built-in, parameterised job kind (<c>uses: debian/sbuild</c>). Its script ships in this assembly
/// (<c>Kinds/scripts/</c>); the planner turns a job that uses it into an ordinary work request whose
/// script is the kind's, with the kind's defaults for queue, outputs, network and architecture.
/// </summary>
public sealed record BuiltInKind(
    string Name,
    string Description,
    KindRunner Runner,
    IReadOnlyList<KindParameter> Parameters,
    IReadOnlyList<string> Outputs,
    string? Queue = null,
    bool Network = false,
    string? ArchitectureParameter = null)
{
    /// <summary>The script (bash, run with -e -o pipefail); empty for <see cref="KindRunner.Server"/>.</summary>
    public string Script => Runner == KindRunner.Server ? "" : BuiltInKinds.ReadScript(Name);

    public bool NeedsEnvironment => Runner is KindRunner.InEnvironment or KindRunner.OnHostWithEnvironment;
}

/// <summary>The registry of built-in kinds, documented in docs/packaging.md.</summary>
public static partial class BuiltInKinds
{
    [GeneratedRegex(@"^[a-z0-9][a-z0-9.+~_-]{0,63}$")]
    private static partial Regex Word();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9.+~_-]{0,63}(,[a-z0-9][a-z0-9.+~_-]{0,63}){0,199}$")]
    private static partial Regex WordList();

    [GeneratedRegex(@"^(true|false)$")]
    private static partial Regex Flag();

    [GeneratedRegex(@"^[0-9]{1,12}$")]
    private static partial Regex Id();

    [GeneratedRegex(@"^(https?|git)://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]{1,1000}$")]
    private static partial Regex Url();

    [GeneratedRegex(@"^[A-Za-z0-9._/@+-]{1,200}$")]
    private static partial Regex GitRef();

    [GeneratedRegex(@"^(error|warning|info|pedantic|none)$")]
    private static partial Regex Severity();

    [GeneratedRegex(@"^[A-Za-z0-9._/+-]{0,200}$")]
    private static partial Regex RelativePath();

    private static KindParameter Suite(bool required = true) => new("suite", "the distribution suite (bookworm, trixie, unstable; for RPM a release name such as fedora-41)", null, Word(), required);

    private static KindParameter Arch() => new("arch", "the architecture to build for (Debian name: amd64, arm64, …)", "amd64", Word());

    private static readonly BuiltInKind[] All =
    [
        new("debian/source", "Fetches a Debian source package: an upload made by kiln build X.dsc (upload) or a packaging repository (git, ref), built with dpkg-source.",
            KindRunner.OnHost,
            [new("upload", "the source upload's id (kiln build prints it)", "", Id()), new("git", "a packaging repository URL", "", Url()), new("ref", "the branch, tag or commit to build", "HEAD", GitRef())],
            ["source/**"]),
        new("debian/sbuild", "Builds a Debian source package with sbuild in unshare mode from the job's environment; build-dependencies come from the suite and the project's own repository.",
            KindRunner.OnHostWithEnvironment, [Suite(), Arch(), new("arch-all", "also build the architecture-independent packages", "true", Flag())],
            ["out/**"], ArchitectureParameter: "arch"),
        new("debian/lintian", "Runs lintian over the packages of the jobs it needs, inside the environment; fails on tags of the given severity or worse.",
            KindRunner.InEnvironment, [new("fail-on", "fail on tags of this severity or worse (none: never fail)", "error", Severity())],
            ["lintian/**"], Network: true),
        new("debian/autopkgtest", "Runs the source package's autopkgtest suite against the built packages, inside the environment as the testbed.",
            KindRunner.InEnvironment, [Suite(required: false), new("fail-on-regression", "fail the job when a test regressed against the suite's reference results", "false", Flag())],
            ["autopkgtest/**"], Network: true),
        new("rpm/source", "Fetches an RPM source package: an upload made by kiln build X.src.rpm (upload) or a repository holding a spec file (git, ref, spec).",
            KindRunner.OnHost,
            [new("upload", "the source upload's id", "", Id()), new("git", "a packaging repository URL", "", Url()), new("ref", "the branch, tag or commit", "HEAD", GitRef()), new("spec", "the spec file's path in the repository (default: the only *.spec)", "", RelativePath())],
            ["source/**"]),
        new("rpm/rpmbuild", "Rebuilds a source RPM with rpmbuild inside the environment, offline; build-dependencies must be in the environment.",
            KindRunner.InEnvironment, [Suite(), Arch()], ["out/**"], Network: true, ArchitectureParameter: "arch"),
        new("apt/publish", "Publishes the .deb and source files of the jobs it needs to the project's APT repository for the suite: signed, incremental, atomic.",
            KindRunner.Server, [Suite()], [], Queue: "publish"),
        new("rpm/publish", "Publishes the RPMs of the jobs it needs to the project's RPM repository for the suite (createrepo_c, signed repomd.xml).",
            KindRunner.Server, [Suite()], [], Queue: "publish"),
        new("kiln/environment", "Builds an environment's root filesystem with mmdebstrap (what kiln env create and refresh submit).",
            KindRunner.OnHost,
            [Suite(), Arch(), new("mirror", "the distribution mirror", "http://deb.debian.org/debian", Url()), new("variant", "mmdebstrap's variant", "buildd", Word()),
             new("packages", "extra packages, comma-separated", "", new Regex(@"^([a-z0-9][a-z0-9.+-]{0,99}(,[a-z0-9][a-z0-9.+-]{0,99}){0,199})?$", RegexOptions.CultureInvariant))],
            ["environment.tar.zst", "environment.packages"], Queue: "environments", ArchitectureParameter: "arch"),
    ];

    private static readonly Dictionary<string, BuiltInKind> ByName = All.ToDictionary(k => k.Name, StringComparer.Ordinal);

    public static IReadOnlyList<BuiltInKind> Kinds => All;

    public static BuiltInKind? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>The environment variable a parameter reaches the script as: <c>fail-on</c> → <c>KILN_WITH_FAIL_ON</c>.</summary>
    public static string VariableFor(string parameter) => "KILN_WITH_" + parameter.ToUpperInvariant().Replace('-', '_').Replace('.', '_');

    internal static string ReadScript(string kind)
    {
        var resource = "kinds/" + kind.Replace('/', '-') + ".sh";
        using var stream = typeof(BuiltInKinds).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the script of built-in kind {kind} is missing from the build ({resource})");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Parses a size such as <c>4GiB</c>, <c>512MiB</c>, <c>100M</c> or plain bytes.</summary>
    public static long? ParseSize(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        var m = SizeText().Match(text.Trim());
        if (!m.Success || !long.TryParse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            return -1;
        }
        var shift = m.Groups[2].Value.ToUpperInvariant() switch
        {
            "" or "B" => 0,
            "K" or "KB" or "KIB" => 10,
            "M" or "MB" or "MIB" => 20,
            "G" or "GB" or "GIB" => 30,
            "T" or "TB" or "TIB" => 40,
            _ => -1,
        };
        return shift < 0 || n > (long.MaxValue >> shift) ? -1 : n << shift;
    }

    [GeneratedRegex(@"^([0-9]{1,15})\s*([A-Za-z]{0,3})$")]
    private static partial Regex SizeText();
}
