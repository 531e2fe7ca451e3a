using System.Runtime.InteropServices;
using Microsoft.Extensions.FileSystemGlobbing;
using Microsoft.Extensions.FileSystemGlobbing.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Worker;

/// <summary>
/// A task's files, handled without following the task's symbolic links: a link can point anywhere
/// the worker can read (<c>outputs/link -> /etc/shadow</c>) or write. Outputs are matched without
/// descending into linked directories; a matched symbolic link is refused (the attempt fails and says
/// why: outputs must be regular files inside the work directory); each output is opened with
/// <c>O_NOFOLLOW</c> and its opened file's real path is checked to be inside the work directory.
/// Inputs are written only where no component of the path is a link.
/// </summary>
internal static partial class OutputFiles
{
    private const int OpenReadOnly = 0;
    private const int OpenNonBlocking = 0x800;
    private const int OpenCloseOnExec = 0x80000;

    /// <summary>O_NOFOLLOW differs between Linux architectures.</summary>
    private static int OpenNoFollow => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm or Architecture.Ppc64le ? 0x8000 : 0x20000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    /// <summary>Files and links under <paramref name="workDirectory"/> matching the globs, as relative paths with '/', in order.</summary>
    public static IReadOnlyList<string> Match(string workDirectory, IReadOnlyList<string> globs)
    {
        if (globs.Count == 0)
        {
            return [];
        }
        var matcher = new Matcher(StringComparison.Ordinal);
        matcher.AddIncludePatterns(globs);
        return [.. matcher.Execute(new NoFollowDirectory(new DirectoryInfo(workDirectory))).Files
            .Select(f => f.Path.Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => !f.StartsWith("../", StringComparison.Ordinal))
            .Distinct()
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>Opens an output for reading, refusing anything but a regular file inside <paramref name="workDirectory"/>.</summary>
    /// <exception cref="OutputRefusedException">A link, a non-regular file, or a file outside the work directory.</exception>
    public static FileStream OpenOutput(string workDirectory, string relativePath)
    {
        var root = Path.GetFullPath(workDirectory);
        var path = Path.GetFullPath(Path.Combine(root, relativePath));
        if (LinkOnTheWay(root, path) is { } link)
        {
            throw new OutputRefusedException($"'{relativePath}' is (or is inside) a symbolic link ({link}); outputs must be regular files inside the work directory");
        }
        var fd = Open(path, OpenReadOnly | OpenNoFollow | OpenNonBlocking | OpenCloseOnExec);
        if (fd < 0)
        {
            throw new OutputRefusedException($"'{relativePath}' could not be opened without following links (errno {Marshal.GetLastPInvokeError()})");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            // Checked on the opened file, so a path swapped after the check above is caught too.
            var opened = File.ResolveLinkTarget($"/proc/self/fd/{fd}", returnFinalTarget: false)?.FullName;
            if (opened is null || !opened.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new OutputRefusedException($"'{relativePath}' resolves outside the work directory ({opened}); outputs must be regular files inside it");
            }
            var stream = new FileStream(handle, FileAccess.Read, 1, isAsync: false);
            if (!stream.CanSeek)
            {
                stream.Dispose();
                throw new OutputRefusedException($"'{relativePath}' is not a regular file (a pipe or socket)");
            }
            return stream;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Refuses to write <paramref name="relativePath"/> under <paramref name="root"/> if any component on the way (or the file) is a link.</summary>
    /// <exception cref="InvalidDataException">A link is in the way.</exception>
    public static void EnsureNoLinkOnTheWay(string root, string relativePath)
    {
        var full = Path.GetFullPath(root);
        if (LinkOnTheWay(full, Path.GetFullPath(Path.Combine(full, relativePath))) is { } link)
        {
            throw new InvalidDataException($"input '{relativePath}' would be written through a symbolic link ({link}); refused");
        }
    }

    /// <summary>The first component of <paramref name="path"/> below <paramref name="root"/> that is a symbolic link, or null.</summary>
    private static string? LinkOnTheWay(string root, string path)
    {
        if (!path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return path;
        }
        var current = root;
        foreach (var part in path[(root.Length + 1)..].Split(Path.DirectorySeparatorChar))
        {
            current = Path.Combine(current, part);
            var info = new FileInfo(current);
            if (!info.Exists && !Directory.Exists(current))
            {
                return info.LinkTarget is { } dangling ? $"{current} -> {dangling}" : null;
            }
            if (info.LinkTarget is { } target)
            {
                return $"{current} -> {target}";
            }
        }
        return null;
    }

    /// <summary>A directory whose symbolic links are listed as files (so a glob can match them, and they are refused) and never entered.</summary>
    private sealed class NoFollowDirectory(DirectoryInfo directory) : DirectoryInfoBase
    {
        public override string Name => directory.Name;

        public override string FullName => directory.FullName;

        public override DirectoryInfoBase? ParentDirectory => directory.Parent is { } parent ? new NoFollowDirectory(parent) : null;

        public override IEnumerable<FileSystemInfoBase> EnumerateFileSystemInfos()
        {
            if (!directory.Exists)
            {
                yield break;
            }
            foreach (var entry in directory.EnumerateFileSystemInfos("*", SearchOption.TopDirectoryOnly))
            {
                if (entry.LinkTarget is not null || entry is FileInfo)
                {
                    yield return new FileInfoWrapper(new FileInfo(entry.FullName));
                }
                else if (entry is DirectoryInfo sub)
                {
                    yield return new NoFollowDirectory(sub);
                }
            }
        }

        public override DirectoryInfoBase? GetDirectory(string path)
        {
            var target = new DirectoryInfo(Path.Combine(FullName, path));
            return target.LinkTarget is null ? new NoFollowDirectory(target) : null;
        }

        public override FileInfoBase? GetFile(string path) => new FileInfoWrapper(new FileInfo(Path.Combine(FullName, path)));
    }
}

/// <summary>An output the worker will not upload, for the task's own doing (a link, a pipe); the attempt fails with the message.</summary>
internal sealed class OutputRefusedException(string message) : Exception(message);
