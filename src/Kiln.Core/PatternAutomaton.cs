namespace Kiln.Core;

/// <summary>
/// Aho–Corasick over bytes: fed one byte at a time, it says the length of the longest pattern
/// ending at that byte, in amortised constant time whatever the number of patterns, so a log is
/// scanned once however many secrets (and forms of them) are looked for. The root's transitions
/// are a table (a log's bytes mostly stay at the root); the others a dictionary keyed by
/// (node, byte), since secrets make long thin branches.
/// </summary>
internal sealed class PatternAutomaton
{
    private readonly int[] _root = new int[256];
    private readonly Dictionary<long, int> _edges = [];
    private readonly List<int> _fail = [0];
    private readonly List<int> _longest = [0];
    private readonly List<int> _depth = [0];

    public PatternAutomaton(IEnumerable<byte[]> patterns)
    {
        var children = new List<List<int>> { new() };
        foreach (var pattern in patterns)
        {
            var node = 0;
            foreach (var b in pattern)
            {
                var next = Child(node, b);
                if (next < 0)
                {
                    next = _fail.Count;
                    _fail.Add(0);
                    _longest.Add(0);
                    _depth.Add(_depth[node] + 1);
                    children.Add([]);
                    children[node].Add(next);
                    if (node == 0)
                    {
                        _root[b] = next;
                    }
                    else
                    {
                        _edges[Key(node, b)] = next;
                    }
                }
                node = next;
            }
            _longest[node] = Math.Max(_longest[node], pattern.Length);
            LongestPattern = Math.Max(LongestPattern, pattern.Length);
        }
        Link(children);
    }

    /// <summary>Length of the longest pattern; 0 when there are none.</summary>
    public int LongestPattern { get; }

    public bool IsEmpty => LongestPattern == 0;

    /// <summary>The state after reading <paramref name="b"/> in <paramref name="state"/> (0: the start).</summary>
    public int Next(int state, byte b)
    {
        while (state != 0)
        {
            if (_edges.TryGetValue(Key(state, b), out var next))
            {
                return next;
            }
            state = _fail[state];
        }
        return _root[b];
    }

    /// <summary>The longest pattern ending where <paramref name="state"/> was reached, or 0.</summary>
    public int MatchLength(int state) => _longest[state];

    /// <summary>
    /// How many of the last bytes read could still begin an occurrence: the longest suffix of the
    /// input that is the start of a pattern. Anything before it is no part of an occurrence yet to come.
    /// </summary>
    public int Depth(int state) => _depth[state];

    private int Child(int node, byte b) => node == 0
        ? (_root[b] == 0 ? -1 : _root[b])
        : _edges.TryGetValue(Key(node, b), out var next) ? next : -1;

    /// <summary>Failure links breadth first; each node's match is the longer of its own and its failure node's.</summary>
    private void Link(List<List<int>> children)
    {
        var bytes = new byte[_fail.Count];
        for (var b = 0; b < 256; b++)
        {
            if (_root[b] != 0)
            {
                bytes[_root[b]] = (byte)b;
            }
        }
        foreach (var (key, child) in _edges)
        {
            bytes[child] = (byte)(key & 0xff);
        }
        var queue = new Queue<int>(children[0]);
        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            foreach (var child in children[node])
            {
                var b = bytes[child];
                var fail = _fail[node];
                int target;
                while (true)
                {
                    target = Child(fail, b);
                    if (target >= 0 && target != child)
                    {
                        break;
                    }
                    if (fail == 0)
                    {
                        target = 0;
                        break;
                    }
                    fail = _fail[fail];
                }
                _fail[child] = target;
                _longest[child] = Math.Max(_longest[child], _longest[target]);
                queue.Enqueue(child);
            }
        }
    }

    private static long Key(int node, byte b) => ((long)node << 8) | b;
}
