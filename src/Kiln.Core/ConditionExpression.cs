using System.Text;

namespace Kiln.Core;

/// <summary>
/// A job's <c>if:</c> condition, parsed once and evaluated per matrix entry at submission. The
/// language is deliberately tiny and has no way to run code or reach anything but the values it
/// is given: string literals (<c>'…'</c>, a quote doubled inside), references (<c>trigger</c>,
/// <c>branch</c>, <c>params.NAME</c>, <c>matrix.NAME</c>), <c>==</c>, <c>!=</c>,
/// <c>VALUE in ['a', 'b']</c>, <c>!</c>, <c>&amp;&amp;</c>, <c>||</c>, parentheses and
/// <c>true</c> / <c>false</c>. Types are checked when parsing (a comparison takes text, the
/// logical operators take conditions), so a typo is refused at submission with its column rather
/// than silently deciding. Length and nesting are bounded: parsing is linear in the text.
/// </summary>
public sealed class ConditionExpression
{
    /// <summary>Longest condition accepted, in characters.</summary>
    public const int MaxLength = 1024;

    /// <summary>Deepest nesting of parentheses and <c>!</c> accepted (the parser recurses once per level).</summary>
    public const int MaxDepth = 32;

    private readonly Node _root;

    private ConditionExpression(Node root, IReadOnlyList<string> references)
    {
        _root = root;
        References = references;
    }

    /// <summary>The references the condition reads (<c>params.suite</c>, <c>trigger</c>…), in order of appearance.</summary>
    public IReadOnlyList<string> References { get; }

    /// <summary>
    /// Parses <paramref name="text"/>; <paramref name="isKnown"/> says whether a reference
    /// (<c>params.suite</c>) names something the submission will have. On failure the error
    /// gives the 1-based column.
    /// </summary>
    public static (ConditionExpression? Condition, string? Error) Parse(string text, Func<string, bool> isKnown)
    {
        if (text.Length > MaxLength)
        {
            return (null, $"a condition is at most {MaxLength} characters");
        }
        try
        {
            var parser = new Parser(text, isKnown);
            var root = parser.ParseCondition();
            return (new ConditionExpression(root, parser.References), null);
        }
        catch (ConditionSyntaxException e)
        {
            return (null, $"column {e.Column}: {e.Message}");
        }
    }

    /// <summary>True when the condition holds; <paramref name="values"/> gives each reference's value (a missing one is empty).</summary>
    public bool Evaluate(Func<string, string?> values) => _root.Test(values);

    private abstract record Node
    {
        public virtual bool Test(Func<string, string?> values) => throw new InvalidOperationException("not a condition");

        public virtual string Text(Func<string, string?> values) => throw new InvalidOperationException("not a value");
    }

    private sealed record Literal(string Value) : Node
    {
        public override string Text(Func<string, string?> values) => Value;
    }

    private sealed record Reference(string Name) : Node
    {
        public override string Text(Func<string, string?> values) => values(Name) ?? "";
    }

    private sealed record Constant(bool Value) : Node
    {
        public override bool Test(Func<string, string?> values) => Value;
    }

    private sealed record Not(Node Operand) : Node
    {
        public override bool Test(Func<string, string?> values) => !Operand.Test(values);
    }

    private sealed record Logical(Node Left, Node Right, bool IsAnd) : Node
    {
        public override bool Test(Func<string, string?> values) =>
            IsAnd ? Left.Test(values) && Right.Test(values) : Left.Test(values) || Right.Test(values);
    }

    private sealed record Equality(Node Left, Node Right, bool Negated) : Node
    {
        public override bool Test(Func<string, string?> values) =>
            string.Equals(Left.Text(values), Right.Text(values), StringComparison.Ordinal) != Negated;
    }

    private sealed record Membership(Node Value, IReadOnlyList<Node> Candidates) : Node
    {
        public override bool Test(Func<string, string?> values)
        {
            var value = Value.Text(values);
            return Candidates.Any(c => string.Equals(c.Text(values), value, StringComparison.Ordinal));
        }
    }

    private sealed class ConditionSyntaxException(int column, string message) : Exception(message)
    {
        public int Column { get; } = column;
    }

    /// <summary>Recursive descent over the text; <see cref="_depth"/> bounds the recursion.</summary>
    private sealed class Parser(string text, Func<string, bool> isKnown)
    {
        private int _pos;
        private int _depth;

        public List<string> References { get; } = [];

        public Node ParseCondition()
        {
            SkipSpace();
            if (_pos == text.Length)
            {
                throw new ConditionSyntaxException(1, "the condition is empty");
            }
            var (node, isText, start) = ParseOr();
            SkipSpace();
            if (_pos < text.Length)
            {
                throw Error($"unexpected '{Snippet()}'; expected ==, !=, in, &&, || or the end");
            }
            if (isText)
            {
                throw new ConditionSyntaxException(start + 1, "this is a value, not a condition; compare it, e.g. params.suite == 'bookworm'");
            }
            return node;
        }

        private (Node Node, bool IsText, int Start) ParseOr()
        {
            var left = ParseAnd();
            while (TryConsume("||"))
            {
                var right = ParseAnd();
                left = (new Logical(RequireCondition(left), RequireCondition(right), IsAnd: false), false, left.Start);
            }
            return left;
        }

        private (Node Node, bool IsText, int Start) ParseAnd()
        {
            var left = ParseComparison();
            while (TryConsume("&&"))
            {
                var right = ParseComparison();
                left = (new Logical(RequireCondition(left), RequireCondition(right), IsAnd: true), false, left.Start);
            }
            return left;
        }

        private (Node Node, bool IsText, int Start) ParseComparison()
        {
            var left = ParseUnary();
            SkipSpace();
            var at = _pos;
            if (TryConsume("==") || TryConsume("!="))
            {
                var negated = text[at] == '!';
                var right = ParseUnary();
                return (new Equality(RequireText(left), RequireText(right), negated), false, left.Start);
            }
            if (TryKeyword("in"))
            {
                return (new Membership(RequireText(left), ParseList()), false, left.Start);
            }
            return left;
        }

        private (Node Node, bool IsText, int Start) ParseUnary()
        {
            SkipSpace();
            var start = _pos;
            if (_pos < text.Length && text[_pos] == '!' && !Peek("!="))
            {
                _pos++;
                Enter();
                var operand = ParseUnary();
                _depth--;
                return (new Not(RequireCondition(operand)), false, start);
            }
            return ParsePrimary();
        }

        private (Node Node, bool IsText, int Start) ParsePrimary()
        {
            SkipSpace();
            var start = _pos;
            if (_pos == text.Length)
            {
                throw Error("the condition ends too early; expected a value");
            }
            var c = text[_pos];
            if (c == '(')
            {
                _pos++;
                Enter();
                var inner = ParseOr();
                _depth--;
                SkipSpace();
                if (!TryConsume(")"))
                {
                    throw Error("expected ')'");
                }
                return (inner.Node, inner.IsText, start);
            }
            if (c is '\'' or '"')
            {
                return (new Literal(ParseString()), true, start);
            }
            if (char.IsAsciiLetter(c))
            {
                var word = ParseWord();
                switch (word)
                {
                    case "true":
                        return (new Constant(true), false, start);
                    case "false":
                        return (new Constant(false), false, start);
                    case "trigger" or "branch":
                        return (Known(word, start), true, start);
                    case "params" or "matrix":
                        if (!TryConsume("."))
                        {
                            throw new ConditionSyntaxException(start + 1, $"'{word}' needs a name: {word}.NAME");
                        }
                        var name = _pos < text.Length && char.IsAsciiLetterOrDigit(text[_pos]) ? ParseWord() : throw Error($"expected a name after '{word}.'");
                        return (Known($"{word}.{name}", start), true, start);
                    default:
                        throw new ConditionSyntaxException(start + 1, $"unknown name '{Cut(word)}'; use trigger, branch, params.NAME, matrix.NAME, true or false");
                }
            }
            throw Error($"unexpected '{Snippet()}'; expected a value such as 'text', params.NAME or (");
        }

        private Reference Known(string name, int start)
        {
            if (!isKnown(name))
            {
                throw new ConditionSyntaxException(start + 1, name.StartsWith("matrix.", StringComparison.Ordinal)
                    ? $"'{Cut(name)}' names no axis of this job's matrix"
                    : $"'{Cut(name)}' is not a declared parameter");
            }
            References.Add(name);
            return new Reference(name);
        }

        private List<Node> ParseList()
        {
            SkipSpace();
            if (!TryConsume("["))
            {
                throw Error("expected '[' after 'in', e.g. trigger in ['push', 'manual']");
            }
            var items = new List<Node>();
            var open = _pos;
            if (TryConsume("]"))
            {
                throw new ConditionSyntaxException(open, "the list is empty");
            }
            do
            {
                items.Add(RequireText(ParsePrimary()));
                SkipSpace();
            }
            while (TryConsume(","));
            if (!TryConsume("]"))
            {
                throw Error("expected ',' or ']'");
            }
            return items;
        }

        private string ParseString()
        {
            var quote = text[_pos];
            var start = _pos++;
            var value = new StringBuilder();
            while (_pos < text.Length)
            {
                if (text[_pos] == quote)
                {
                    if (_pos + 1 < text.Length && text[_pos + 1] == quote)
                    {
                        value.Append(quote);
                        _pos += 2;
                        continue;
                    }
                    _pos++;
                    return value.ToString();
                }
                if (char.IsControl(text[_pos]))
                {
                    throw Error("a string cannot hold control characters");
                }
                value.Append(text[_pos++]);
            }
            throw new ConditionSyntaxException(start + 1, $"the string starting here is not closed with {quote}");
        }

        private string ParseWord()
        {
            var start = _pos;
            while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] is '_' or '-'))
            {
                _pos++;
            }
            return text[start.._pos];
        }

        private static Node RequireCondition((Node Node, bool IsText, int Start) operand) => operand.IsText
            ? throw new ConditionSyntaxException(operand.Start + 1, "this is a value, not a condition; compare it with == or !=")
            : operand.Node;

        private static Node RequireText((Node Node, bool IsText, int Start) operand) => operand.IsText
            ? operand.Node
            : throw new ConditionSyntaxException(operand.Start + 1, "only values ('text', trigger, branch, params.NAME, matrix.NAME) can be compared");

        private void Enter()
        {
            if (++_depth > MaxDepth)
            {
                throw Error($"the condition nests deeper than {MaxDepth} levels");
            }
        }

        private bool TryConsume(string token)
        {
            SkipSpace();
            if (!Peek(token))
            {
                return false;
            }
            _pos += token.Length;
            return true;
        }

        private bool TryKeyword(string word)
        {
            SkipSpace();
            if (!Peek(word) || (_pos + word.Length < text.Length && char.IsAsciiLetterOrDigit(text[_pos + word.Length])))
            {
                return false;
            }
            _pos += word.Length;
            return true;
        }

        private bool Peek(string token) => string.CompareOrdinal(text, _pos, token, 0, token.Length) == 0 && _pos + token.Length <= text.Length;

        private void SkipSpace()
        {
            while (_pos < text.Length && text[_pos] is ' ' or '\t' or '\n' or '\r')
            {
                _pos++;
            }
        }

        private ConditionSyntaxException Error(string message) => new(_pos + 1, message);

        private string Snippet() => Cut(text[_pos..Math.Min(text.Length, _pos + 20)]);

        private static string Cut(string value) => value.Length <= 40 ? value : value[..40] + "…";
    }
}
