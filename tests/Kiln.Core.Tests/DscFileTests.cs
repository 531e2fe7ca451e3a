using Kiln.Core.Packaging;

namespace Kiln.Core.Tests;

/// <summary>What the source intake reads from a .dsc: Source, Version and each listed file with its size and checksums, signed or not.</summary>
public sealed class DscFileTests
{
    private const string Sha = "b7f9dc5b36b1e9c5e2a4c5ae7ef5bdfcf80d5e37b5f3cc4b7d0bd2a3d1dd3e01";

    private const string Stanza = $"""
        Format: 3.0 (quilt)
        Source: hello
        Binary: hello
        Version: 2.10-3
        Checksums-Sha256:
         {Sha} 725946 hello_2.10.orig.tar.gz
         a4f3a1d0ab8cd5c1d3f0a4e5fb6f8dd1b0bb1bd9d2c6bc4cc7a81da4f6da0c52 12688 hello_2.10-3.debian.tar.xz
        Files:
         6cd0ffea3884a4e79330338dcc2987d6 725946 hello_2.10.orig.tar.gz
         2a9b5ac5b7f7fd8ac88c8de9bf1b43d0 12688 hello_2.10-3.debian.tar.xz
        """;

    [Fact]
    public void A_clearsigned_dsc_is_parsed_from_its_signed_text_with_dash_escaping_undone()
    {
        var signed = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + Stanza.Replace("Format:", "- Format:", StringComparison.Ordinal)
            + "\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n-----END PGP SIGNATURE-----\n";
        var dsc = DscFile.Parse(signed, out var problem);
        Assert.Null(problem);
        Assert.Equal(("hello", "2.10-3"), (dsc!.Source, dsc.Version));
        var orig = Assert.Single(dsc.Files, f => f.Name == "hello_2.10.orig.tar.gz");
        Assert.Equal((725946L, Sha, "6cd0ffea3884a4e79330338dcc2987d6"), (orig.Size, orig.Sha256, orig.Md5));
        Assert.Equal(2, dsc.Files.Count);
    }

    [Fact]
    public void A_file_whose_size_differs_between_checksum_fields_or_a_signature_without_its_block_is_refused()
    {
        Assert.Null(DscFile.Parse(Stanza.Replace("6cd0ffea3884a4e79330338dcc2987d6 725946", "6cd0ffea3884a4e79330338dcc2987d6 725947", StringComparison.Ordinal), out var sizes));
        Assert.Contains("hello_2.10.orig.tar.gz", sizes, StringComparison.Ordinal);
        Assert.Null(DscFile.Parse("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + Stanza, out var unsigned));
        Assert.Contains("signature", unsigned, StringComparison.Ordinal);
        Assert.Null(DscFile.Parse(Stanza.Replace(" hello_2.10.orig.tar.gz", " ../etc/passwd", StringComparison.Ordinal), out var path));
        Assert.Contains("CHECKSUM SIZE NAME", path, StringComparison.Ordinal);
    }
}
