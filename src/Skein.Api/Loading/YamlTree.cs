using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Skein.Api.Loading;

/// <summary>A parsed YAML node with the position it starts at (1-based).</summary>
internal abstract class YNode(int line, int column)
{
    public int Line { get; } = line;
    public int Column { get; } = column;
}

internal sealed class YScalar(int line, int column, string value, bool plain) : YNode(line, column)
{
    public string Value { get; } = value;

    /// <summary>Plain (unquoted) scalars may be numbers, booleans or null; quoted ones are strings.</summary>
    public bool Plain { get; } = plain;

    public bool IsNull => Plain && Value is "" or "~" or "null" or "Null" or "NULL";
}

internal sealed class YSequence(int line, int column) : YNode(line, column)
{
    public List<YNode> Items { get; } = [];
}

internal sealed class YMapping(int line, int column) : YNode(line, column)
{
    public List<KeyValuePair<YScalar, YNode>> Entries { get; } = [];
}

/// <summary>A YAML problem found while reading, before binding.</summary>
internal readonly record struct YamlProblem(int Line, int Column, string Code, string Message);

/// <summary>
/// Builds <see cref="YNode"/> trees from YamlDotNet's event parser without recursion, with
/// limits on depth and size so that hostile input (alias bombs, deep nesting) gives an
/// error instead of a stack overflow or unbounded memory.
/// </summary>
internal static class YamlTreeReader
{
    public const int MaxDepth = 64;
    public const int MaxNodes = 200_000;

    public static List<YNode?> ReadDocuments(string text, List<YamlProblem> problems)
    {
        var documents = new List<YNode?>();
        var anchors = new Dictionary<string, YNode>(StringComparer.Ordinal);
        var stack = new Stack<Frame>();
        var nodes = 0;
        YNode? root = null;
        var inDocument = false;
        var parser = new Parser(new StringReader(text));
        try
        {
            while (parser.MoveNext())
            {
                var ev = parser.Current!;
                switch (ev)
                {
                    case DocumentStart:
                        root = null;
                        inDocument = true;
                        anchors.Clear();
                        break;
                    case DocumentEnd:
                        documents.Add(root);
                        inDocument = false;
                        break;
                    case Scalar scalar:
                        var node = new YScalar(Line(scalar.Start), Col(scalar.Start), scalar.Value, scalar.Style == ScalarStyle.Plain);
                        Remember(scalar.Anchor, node);
                        if (!Attach(node, scalar.Start, isScalarKey: true))
                        {
                            return documents;
                        }

                        break;
                    case SequenceStart seq:
                        var sequence = new YSequence(Line(seq.Start), Col(seq.Start));
                        Remember(seq.Anchor, sequence);
                        if (!Attach(sequence, seq.Start, isScalarKey: false))
                        {
                            return documents;
                        }

                        if (!Push(sequence, seq.Start))
                        {
                            return documents;
                        }

                        break;
                    case MappingStart map:
                        var mapping = new YMapping(Line(map.Start), Col(map.Start));
                        Remember(map.Anchor, mapping);
                        if (!Attach(mapping, map.Start, isScalarKey: false))
                        {
                            return documents;
                        }

                        if (!Push(mapping, map.Start))
                        {
                            return documents;
                        }

                        break;
                    case SequenceEnd or MappingEnd:
                        var done = stack.Pop();
                        if (done.Node is YMapping && done.PendingKey is not null)
                        {
                            Problem(ev.Start, DiagnosticCodesInternal.Syntax, "mapping key has no value");
                        }

                        break;
                    case AnchorAlias alias:
                        if (!anchors.TryGetValue(alias.Value.Value, out var target))
                        {
                            Problem(alias.Start, DiagnosticCodesInternal.Syntax, $"unknown alias *{alias.Value.Value}");
                            return documents;
                        }

                        // An alias re-uses a tree; count its size so that nested aliases cannot explode.
                        nodes += CountNodes(target);
                        if (nodes > MaxNodes)
                        {
                            Problem(alias.Start, DiagnosticCodesInternal.TooComplex, $"document is too large (more than {MaxNodes} nodes after expanding aliases)");
                            return documents;
                        }

                        if (!Attach(target, alias.Start, isScalarKey: target is YScalar))
                        {
                            return documents;
                        }

                        break;
                }
            }
        }
        catch (YamlException ex)
        {
            var message = ex.Message;
            var idx = message.IndexOf("): ", StringComparison.Ordinal);
            if (message.StartsWith('(') && idx > 0)
            {
                message = message[(idx + 3)..];
            }

            // YamlDotNet leaves Start empty for some errors and points Start at the end of the
            // previous token for tab indentation; End is then where the problem is.
            var at = ex.Start.Line == 0 || message.Contains("tab", StringComparison.Ordinal) ? ex.End : ex.Start;
            message = string.Join(' ', message.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            var (line, column) = at.Line <= 1 && at.Column <= 1 && message.Contains("tab", StringComparison.Ordinal) ? FirstIndentingTab(text) : (Line(at), Col(at));
            problems.Add(new YamlProblem(line, column, DiagnosticCodesInternal.Syntax, "invalid YAML: " + message.TrimEnd('.')));
            if (inDocument && root is not null)
            {
                // Bind nothing from a half-read document: its content is not what the user wrote.
                documents.Add(null);
            }
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner fails this way (not with a YamlException) when a flow collection
            // is left open and block content follows.
            var mark = parser.Current?.End ?? Mark.Empty;
            problems.Add(new YamlProblem(Line(mark), Col(mark), DiagnosticCodesInternal.Syntax, "invalid YAML: a '[' or '{' is not closed before the content that follows"));
            if (inDocument && root is not null)
            {
                documents.Add(null);
            }
        }

        return documents;

        void Remember(AnchorName anchor, YNode node)
        {
            if (!anchor.IsEmpty)
            {
                anchors[anchor.Value] = node;
            }
        }

        bool Push(YNode node, Mark mark)
        {
            if (stack.Count >= MaxDepth)
            {
                Problem(mark, DiagnosticCodesInternal.TooComplex, $"document is nested deeper than {MaxDepth} levels");
                return false;
            }

            stack.Push(new Frame(node));
            return true;
        }

        bool Attach(YNode node, Mark mark, bool isScalarKey)
        {
            if (++nodes > MaxNodes)
            {
                Problem(mark, DiagnosticCodesInternal.TooComplex, $"document is too large (more than {MaxNodes} nodes)");
                return false;
            }

            if (stack.Count == 0)
            {
                root = node;
                return true;
            }

            var top = stack.Peek();
            switch (top.Node)
            {
                case YSequence seq:
                    seq.Items.Add(node);
                    break;
                case YMapping when top.PendingKey is null:
                    if (!isScalarKey || node is not YScalar key)
                    {
                        Problem(mark, DiagnosticCodesInternal.Syntax, "mapping keys must be plain strings");
                        return false;
                    }

                    top.PendingKey = key;
                    break;
                case YMapping map:
                    map.Entries.Add(new(top.PendingKey!, node));
                    top.PendingKey = null;
                    break;
            }

            return true;
        }

        void Problem(Mark mark, string code, string message) =>
            problems.Add(new YamlProblem(Line(mark), Col(mark), code, message));
    }

    /// <summary>Where the first tab used for indentation is (YamlDotNet reports no position for it).</summary>
    private static (int Line, int Column) FirstIndentingTab(string text)
    {
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            for (var j = 0; j < lines[i].Length && lines[i][j] is ' ' or '\t'; j++)
            {
                if (lines[i][j] == '\t')
                {
                    return (i + 1, j + 1);
                }
            }
        }

        return (1, 1);
    }

    private static int CountNodes(YNode node)
    {
        var count = 0;
        var pending = new Stack<YNode>();
        pending.Push(node);
        while (pending.Count > 0 && count <= MaxNodes)
        {
            count++;
            switch (pending.Pop())
            {
                case YSequence s:
                    s.Items.ForEach(pending.Push);
                    break;
                case YMapping m:
                    foreach (var e in m.Entries)
                    {
                        pending.Push(e.Value);
                        count++;
                    }

                    break;
            }
        }

        return count;
    }

    private static int Line(Mark mark) => (int)Math.Max(1, mark.Line);

    private static int Col(Mark mark) => (int)Math.Max(1, mark.Column);

    private sealed class Frame(YNode node)
    {
        public YNode Node { get; } = node;
        public YScalar? PendingKey { get; set; }
    }
}

internal static class DiagnosticCodesInternal
{
    public const string Syntax = Validation.DiagnosticCodes.YamlSyntax;
    public const string TooComplex = Validation.DiagnosticCodes.TooComplex;
}
