namespace Kiln.Server.Repositories;

/// <summary>A file a publish offers: where it goes in the pool, what package it is, and its copy in incoming/.</summary>
/// <param name="Filename">The pool path, e.g. <c>pool/main/h/hello/hello_2.10-3_amd64.deb</c> or <c>Packages/h/hello-2.10-1.x86_64.rpm</c>.</param>
/// <param name="Architecture">The package's architecture; <c>source</c> for a .dsc and the files it lists, <c>src</c> for a source RPM.</param>
/// <param name="Control">APT: the control stanza of a .deb or the paragraph of a .dsc; null otherwise.</param>
public sealed record PoolFile(
    string Filename, string Package, string Version, string Architecture, string? SourcePackage, string? Control,
    string Sha256, string Md5, long Size, long WorkRequestId, string LocalPath);

/// <summary>A publish refused because of one of its files: 409 (a conflict with what is published) or 422 (the file is not a package).</summary>
public sealed class PublishRefusedException(int status, string file, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string File { get; } = file;
}
