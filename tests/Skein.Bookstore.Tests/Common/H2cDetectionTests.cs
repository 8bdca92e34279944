using System.Buffers;
using System.Text;
using Skein.Bookstore.Common;

namespace Skein.Bookstore.Tests.Common;

public sealed class H2cDetectionTests
{
    [Fact]
    public void Match_FullPreface_True()
    {
        Assert.True(H2cDetection.Match(Bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\x12\x04")));
    }

    [Fact]
    public void Match_PrefaceSplitAcrossSegments_True()
    {
        var first = new Segment(Encoding.ASCII.GetBytes("PRI * HTTP/2"));
        var last = first.Append(Encoding.ASCII.GetBytes(".0\r\n\r\nSM\r\n\r\n"));
        Assert.True(H2cDetection.Match(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length)));
    }

    [Theory]
    [InlineData("P")]
    [InlineData("PRI * HT")]
    public void Match_PartialPreface_Undecided(string text)
    {
        Assert.Null(H2cDetection.Match(Bytes(text)));
    }

    [Theory]
    [InlineData("GET /healthz HTTP/1.1\r\n")]
    [InlineData("PUT / HTTP/1.1\r\n")]
    [InlineData("\x16\x03\x01")]
    public void Match_Http1OrTls_False(string text)
    {
        Assert.False(H2cDetection.Match(Bytes(text)));
    }

    private static ReadOnlySequence<byte> Bytes(string text) => new(Encoding.Latin1.GetBytes(text));

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
