namespace Kiln.Core.Tests;

/// <summary>What text is accepted from outside: nothing PostgreSQL refuses, nothing that hides in a terminal.</summary>
public sealed class SafeTextTests
{
    [Theory]
    [InlineData("a\0b", "U+0000")]
    [InlineData("\u001b[31mred", "U+001B")]
    public void Text_that_cannot_be_stored_or_hides_itself_is_refused_saying_why(string value, string says)
    {
        Assert.Contains(says, SafeText.Problem(value));
    }

    [Fact]
    public void Broken_unicode_is_refused_but_a_surrogate_pair_is_text()
    {
        // Built from code units: attribute arguments cannot carry a lone surrogate.
        Assert.Contains("unpaired", SafeText.Problem("lone " + (char)0xD800 + " surrogate"));
        Assert.Contains("unpaired", SafeText.Problem("reversed " + (char)0xDC00 + (char)0xD800));
        Assert.Null(SafeText.Problem("pair " + (char)0xD83D + (char)0xDE00));
    }

    [Theory]
    [InlineData("set -e\n\techo ok\r\n")]
    [InlineData("ü€ and an emoji 😀")]
    [InlineData("")]
    public void Scripts_and_messages_keep_their_lines_tabs_and_unicode(string value)
    {
        Assert.Null(SafeText.Problem(value));
    }

    [Theory]
    [InlineData("two\nlines")]
    [InlineData("tab\there")]
    public void Single_line_values_refuse_line_breaks_and_tabs(string value)
    {
        Assert.NotNull(SafeText.Problem(value, multiline: false));
        Assert.Null(SafeText.Problem(value.Replace('\n', ' ').Replace('\t', ' '), multiline: false));
    }

    [Theory]
    [InlineData("exit 1\0 at byte 3", "exit 1\uFFFD at byte 3")]
    [InlineData("colour \u001b[31mred", "colour \uFFFD[31mred")]
    [InlineData("lines\n\tkept \ud83d\ude00", "lines\n\tkept \ud83d\ude00")]
    public void Cleaning_replaces_only_what_would_be_refused_so_a_forwarded_message_is_stored(string value, string expected)
    {
        var clean = SafeText.Clean(value);
        Assert.Equal(expected, clean);
        Assert.Null(SafeText.Problem(clean));
    }

    [Fact]
    public void Cleaning_replaces_a_lone_surrogate_and_keeps_a_pair()
    {
        Assert.Equal("half \uFFFD pair \ud83d\ude00", SafeText.Clean("half \ud800 pair \ud83d\ude00"));
    }
}
