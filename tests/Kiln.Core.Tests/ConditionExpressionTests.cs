using Kiln.Core;

namespace Kiln.Core.Tests;

/// <summary>The <c>if:</c> language: what it accepts, how it decides, and how it refuses (with the column).</summary>
public sealed class ConditionExpressionTests
{
    private static readonly Dictionary<string, string> Values = new()
    {
        ["trigger"] = "push",
        ["branch"] = "main",
        ["params.suite"] = "bookworm",
        ["matrix.arch"] = "arm64",
    };

    private static bool Known(string name) => Values.ContainsKey(name) || name == "params.empty";

    private static bool Eval(string text)
    {
        var (condition, error) = ConditionExpression.Parse(text, Known);
        Assert.True(error is null, error);
        return condition!.Evaluate(n => Values.GetValueOrDefault(n));
    }

    private static string Refuse(string text)
    {
        var (condition, error) = ConditionExpression.Parse(text, Known);
        Assert.Null(condition);
        Assert.NotNull(error);
        return error;
    }

    [Theory]
    [InlineData("params.suite == 'bookworm'", true)]
    [InlineData("params.suite != 'bookworm'", false)]
    [InlineData("params.suite == 'bookworm' && trigger != 'pull-request'", true)]
    [InlineData("trigger == 'pull-request' || branch == 'main'", true)]
    [InlineData("!(branch == 'main')", false)]
    [InlineData("matrix.arch in ['amd64', 'arm64']", true)]
    [InlineData("matrix.arch in ['amd64']", false)]
    [InlineData("true && !false", true)]
    [InlineData("'it''s' == \"it's\"", true)]
    [InlineData("params.empty == ''", true)]
    [InlineData("trigger == 'push' || trigger == 'x' && branch == 'nope'", true)]
    [InlineData("(trigger == 'push' || trigger == 'x') && branch == 'nope'", false)]
    public void Conditions_decide_as_written_with_and_binding_tighter_than_or(string text, bool expected) =>
        Assert.Equal(expected, Eval(text));

    [Theory]
    [InlineData("params.suite", "column 1: this is a value, not a condition")]
    [InlineData("params.suit == 'x'", "column 1: 'params.suit' is not a declared parameter")]
    [InlineData("trigger == 'push' && matrix.os == 'x'", "column 22: 'matrix.os' names no axis")]
    [InlineData("trigger = 'push'", "column 9: unexpected '= 'push''")]
    [InlineData("trigger == 'push", "column 12: the string starting here is not closed")]
    [InlineData("trigger == ", "column 12: the condition ends too early")]
    [InlineData("(trigger == 'push'", "column 19: expected ')'")]
    [InlineData("trigger in 'push'", "column 12: expected '['")]
    [InlineData("trigger in []", "column 12: the list is empty")]
    [InlineData("true == 'x'", "column 1: only values")]
    [InlineData("system('rm -rf /')", "column 1: unknown name 'system'")]
    [InlineData("", "column 1: the condition is empty")]
    public void Mistakes_are_refused_with_their_column(string text, string expected) =>
        Assert.StartsWith(expected, Refuse(text));

    [Fact]
    public void Deep_nesting_is_refused_before_it_can_exhaust_the_stack()
    {
        Assert.Contains("deeper than 32", Refuse(new string('(', 500) + "true" + new string(')', 500)));
        Assert.Contains("deeper than 32", Refuse(new string('!', 1000) + "true"));
        Assert.True(Eval(new string('(', 32) + "true" + new string(')', 32)));
    }

    [Fact]
    public void Long_conditions_are_refused_whatever_they_hold()
    {
        Assert.Contains("at most 1024 characters", Refuse("trigger == '" + new string('x', 100_000) + "'"));
        // A long chain within the limit parses and evaluates (left-deep, no recursion per operator in parsing).
        var chain = string.Join(" && ", Enumerable.Repeat("trigger == 'push'", 40));
        Assert.True(Eval(chain));
    }

    [Fact]
    public void A_string_cannot_carry_control_characters()
    {
        Assert.Contains("control characters", Refuse("trigger == 'a\u0000b'"));
    }

    [Fact]
    public void A_missing_value_compares_as_empty_text()
    {
        var (condition, _) = ConditionExpression.Parse("branch == ''", Known);
        Assert.True(condition!.Evaluate(_ => null));
    }
}
