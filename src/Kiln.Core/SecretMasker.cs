using System.Buffers;
using System.Text;

namespace Kiln.Core;

/// <summary>
/// Replaces secret values with <c>***</c> in a byte stream that arrives in chunks (a task's log):
/// each value, its standard and URL-safe base64 (also inside a longer base64 text), its URL
/// encodings, its hex and its JSON-escaped forms, and each line of a multi-line value (see
/// docs/worker.md, "Secrets in logs"). Values shorter than <see cref="MinimumLength"/> characters
/// are not masked. Works on bytes, so everything that is not a secret passes through unchanged,
/// invalid UTF-8 included. A secret split across chunks is still masked: the end of a chunk that
/// could begin a secret (at most <see cref="HoldBack"/> bytes) is held until the next one or <see cref="Flush(IBufferWriter{byte})"/>.
/// Overlapping or adjacent occurrences become one <c>***</c>. One pass over the input, whatever the number of secrets.
/// Not thread-safe: one instance per stream.
/// </summary>
public sealed class SecretMasker
{
    /// <summary>Values shorter than this (in characters) are not masked.</summary>
    public const int MinimumLength = SecretForms.MinimumLength;

    private static readonly byte[] Stars = "***"u8.ToArray();

    private readonly PatternAutomaton _patterns;
    private readonly List<(long Start, long End)> _found = [];
    private byte[] _pending;
    private int _pendingCount;
    private int _state;
    /// <summary>Bytes of input read so far.</summary>
    private long _position;
    /// <summary>Input before this is written out (as itself or inside a mask); the pending bytes start here.</summary>
    private long _emitted;
    /// <summary>End of the last mask written: a later occurrence reaching back to it joins it.</summary>
    private long _maskedTo = -1;

    public SecretMasker(IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        _patterns = new PatternAutomaton(values.Where(v => v is not null).Distinct(StringComparer.Ordinal).SelectMany(SecretForms.Of));
        _pending = new byte[PendingCapacity(_patterns)];
    }

    /// <summary>True when nothing would be masked (no values, or all too short): input passes through as it is.</summary>
    public bool IsEmpty => _patterns.IsEmpty;

    /// <summary>
    /// Most bytes held back between calls (the longest form's length). Only what could begin a
    /// secret is held: a log line that does not end in the start of one is written out whole.
    /// </summary>
    public int HoldBack => _patterns.LongestPattern;

    /// <summary>Masks <paramref name="chunk"/>, the next part of the stream, into <paramref name="output"/>, holding back a tail that might begin a secret.</summary>
    public void Process(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (IsEmpty)
        {
            output.Write(chunk);
            return;
        }
        foreach (var b in chunk)
        {
            Hold(b);
            _state = _patterns.Next(_state, b);
            _position++;
            var length = _patterns.MatchLength(_state);
            if (length > 0)
            {
                Found(_position - length, _position);
            }
            if (_pendingCount == _pending.Length)
            {
                Emit(_position - _patterns.Depth(_state), output);
            }
        }
        Emit(_position - _patterns.Depth(_state), output);
    }

    /// <summary>The stream ended (for now): writes out what was held back. What follows is masked as a new stream.</summary>
    public void Flush(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Emit(_position, output);
        Reset();
    }

    /// <summary><see cref="Process(ReadOnlySpan{byte}, IBufferWriter{byte})"/> into a new array.</summary>
    public byte[] Process(ReadOnlySpan<byte> chunk)
    {
        var output = new ArrayBufferWriter<byte>(chunk.Length + 16);
        Process(chunk, output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary><see cref="Flush(IBufferWriter{byte})"/> into a new array.</summary>
    public byte[] Flush()
    {
        var output = new ArrayBufferWriter<byte>(_pendingCount + 16);
        Flush(output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Forgets the stream so far (held-back bytes are dropped): the next chunk starts a new stream.</summary>
    public void Reset()
    {
        _state = 0;
        _found.Clear();
        _pendingCount = 0;
        _position = 0;
        _emitted = 0;
        _maskedTo = -1;
    }

    /// <summary>Masks a whole text (a message), independently of the stream in progress.</summary>
    public string Mask(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (IsEmpty)
        {
            return text;
        }
        var once = new SecretMasker(_patterns);
        var output = new ArrayBufferWriter<byte>(text.Length + 16);
        once.Process(Encoding.UTF8.GetBytes(text), output);
        once.Flush(output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private SecretMasker(PatternAutomaton patterns)
    {
        _patterns = patterns;
        _pending = new byte[PendingCapacity(patterns)];
    }

    /// <summary>Room for the held-back tail and as much again (at least 4 KiB), so a full buffer empties by half, not by a byte.</summary>
    private static int PendingCapacity(PatternAutomaton patterns) => patterns.LongestPattern + Math.Max(4096, patterns.LongestPattern);

    private void Hold(byte b)
    {
        _pending[_pendingCount++] = b;
    }

    /// <summary>
    /// Records an occurrence [start, end). Occurrences are found in order of their end, so one
    /// that overlaps or touches the ones before swallows them; one that reaches back into the
    /// mask already written extends it.
    /// </summary>
    private void Found(long start, long end)
    {
        while (_found.Count > 0 && _found[^1].End >= start)
        {
            start = Math.Min(start, _found[^1].Start);
            _found.RemoveAt(_found.Count - 1);
        }
        if (_found.Count == 0 && start <= _maskedTo)
        {
            _maskedTo = Math.Max(_maskedTo, end);
            return;
        }
        _found.Add((start, end));
    }

    /// <summary>
    /// Writes out the input before <paramref name="safe"/>: no occurrence not yet seen whole can
    /// start there (the bytes after it are the longest run that could still begin one). An occurrence starting there is written as <c>***</c> at once, even if it may
    /// still grow (the rest is then swallowed), so what is held stays bounded.
    /// </summary>
    private void Emit(long safe, IBufferWriter<byte> output)
    {
        var baseline = _position - _pendingCount; // absolute position of _pending[0]
        if (_maskedTo > _emitted)
        {
            _emitted = Math.Min(_maskedTo, _position);
        }
        var taken = 0;
        foreach (var (start, end) in _found)
        {
            if (start >= safe)
            {
                break;
            }
            Write(baseline, _emitted, start, output);
            output.Write(Stars);
            _emitted = end;
            _maskedTo = end;
            taken++;
        }
        _found.RemoveRange(0, taken);
        if (safe > _emitted)
        {
            Write(baseline, _emitted, safe, output);
            _emitted = safe;
        }
        var drop = (int)(_emitted - baseline);
        if (drop > 0)
        {
            Array.Copy(_pending, drop, _pending, 0, _pendingCount - drop);
            _pendingCount -= drop;
        }
    }

    private void Write(long baseline, long from, long to, IBufferWriter<byte> output)
    {
        if (to > from)
        {
            output.Write(_pending.AsSpan((int)(from - baseline), (int)(to - from)));
        }
    }
}
