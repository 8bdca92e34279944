using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Skein.ControlPlane.Tracing;

namespace Skein.ControlPlane.Tests.Tracing;

/// <summary>Builds OTLP export requests: JSON as the spec writes it, and the protobuf wire format by field number.</summary>
internal static class Otlp
{
    public const string TraceId = "5b8efff798038103d269b633813fc60c";

    public sealed record Span(string Service, string SpanId, string Parent, string Name, int Kind, long StartMs, long EndMs, int Status = 0, string? HttpStatus = null);

    /// <summary>frontend → reviews-v2 → ratings: a server and a client span on each hop, as sidecars emit them.</summary>
    public static Span[] ThreeHops(long t0 = 1_700_000_000_000) =>
    [
        new("frontend", "a000000000000001", "", "frontend.default.svc.cluster.local:9080/*", 2, t0, t0 + 40, HttpStatus: "200"),
        new("frontend", "a000000000000002", "a000000000000001", "reviews.default.svc.cluster.local:9080/*", 3, t0 + 5, t0 + 35, HttpStatus: "200"),
        new("reviews-v2", "b000000000000001", "a000000000000002", "reviews.default.svc.cluster.local:9080/*", 2, t0 + 6, t0 + 34, HttpStatus: "200"),
        new("reviews-v2", "b000000000000002", "b000000000000001", "ratings.default.svc.cluster.local:9080/*", 3, t0 + 10, t0 + 30, Status: 2, HttpStatus: "503"),
        new("ratings", "c000000000000001", "b000000000000002", "ratings.default.svc.cluster.local:9080/*", 2, t0 + 12, t0 + 28, HttpStatus: "503"),
    ];

    public static string Json(IEnumerable<Span> spans, string traceId = TraceId)
    {
        var resources = new JsonArray();
        foreach (var g in spans.GroupBy(s => s.Service))
        {
            var list = new JsonArray();
            foreach (var s in g)
            {
                list.Add(new JsonObject
                {
                    ["traceId"] = traceId,
                    ["spanId"] = s.SpanId,
                    ["parentSpanId"] = s.Parent,
                    ["name"] = s.Name,
                    ["kind"] = s.Kind,
                    ["startTimeUnixNano"] = (s.StartMs * 1_000_000).ToString(CultureInfo.InvariantCulture),
                    ["endTimeUnixNano"] = (s.EndMs * 1_000_000).ToString(CultureInfo.InvariantCulture),
                    ["attributes"] = new JsonArray(
                        Attribute("http.status_code", new JsonObject { ["stringValue"] = s.HttpStatus ?? "" }),
                        Attribute("request_size", new JsonObject { ["intValue"] = "12" }),
                        Attribute("sampled", new JsonObject { ["boolValue"] = true })),
                    ["status"] = new JsonObject { ["code"] = s.Status },
                });
            }

            resources.Add(new JsonObject
            {
                ["resource"] = new JsonObject { ["attributes"] = new JsonArray(Attribute("service.name", new JsonObject { ["stringValue"] = g.Key })) },
                ["scopeSpans"] = new JsonArray(new JsonObject { ["scope"] = new JsonObject { ["name"] = "skein-proxy" }, ["spans"] = list }),
            });
        }

        return new JsonObject { ["resourceSpans"] = resources }.ToJsonString();

        static JsonObject Attribute(string key, JsonObject value) => new() { ["key"] = key, ["value"] = value };
    }

    public static byte[] Protobuf(IEnumerable<Span> spans, string traceId = TraceId)
    {
        var request = new List<byte>();
        foreach (var g in spans.GroupBy(s => s.Service))
        {
            var resource = Message(1, Message(1, KeyValue("service.name", Str(1, g.Key))));
            var scopeSpans = new List<byte>();
            scopeSpans.AddRange(Message(1, Str(1, "skein-proxy")));
            foreach (var s in g)
            {
                var span = new List<byte>();
                span.AddRange(Bytes(1, Convert.FromHexString(traceId)));
                span.AddRange(Bytes(2, Convert.FromHexString(s.SpanId)));
                if (s.Parent.Length > 0)
                {
                    span.AddRange(Bytes(4, Convert.FromHexString(s.Parent)));
                }

                span.AddRange(Str(5, s.Name));
                span.AddRange([0x30, (byte)s.Kind]); // kind = 6, varint
                span.Add(0x39); // start_time_unix_nano = 7, fixed64
                span.AddRange(BitConverter.GetBytes(s.StartMs * 1_000_000));
                span.Add(0x41); // end_time_unix_nano = 8, fixed64
                span.AddRange(BitConverter.GetBytes(s.EndMs * 1_000_000));
                span.AddRange(Message(9, KeyValue("http.status_code", Str(1, s.HttpStatus ?? ""))));
                span.AddRange(Message(9, KeyValue("request_size", [0x18, 12]))); // int_value = 3
                span.AddRange(Message(15, [0x18, (byte)s.Status])); // status { code = 3 }
                span.AddRange([0x85, 0x01, 1, 0, 0, 0]); // flags = 16, fixed32 (a field the reader skips)
                scopeSpans.AddRange(Message(2, [.. span]));
            }

            request.AddRange(Message(1, [.. resource, .. Message(2, [.. scopeSpans])]));
        }

        return [.. request];
    }

    private static byte[] KeyValue(string key, byte[] anyValue) => [.. Str(1, key), .. Message(2, anyValue)];

    private static byte[] Str(int field, string text) => Bytes(field, Encoding.UTF8.GetBytes(text));

    private static byte[] Message(int field, byte[] body) => Bytes(field, body);

    private static byte[] Bytes(int field, byte[] body)
    {
        var b = new List<byte>();
        Varint(b, (ulong)((field << 3) | 2));
        Varint(b, (ulong)body.Length);
        b.AddRange(body);
        return [.. b];
    }

    private static void Varint(List<byte> into, ulong value)
    {
        while (value >= 0x80)
        {
            into.Add((byte)(value | 0x80));
            value >>= 7;
        }

        into.Add((byte)value);
    }
}

public sealed class OtlpTests
{
    [Fact]
    public void Json_ExportRequest_SpansWithServiceIdsTimesAndAttributes()
    {
        var batch = OtlpJson.Read(Encoding.UTF8.GetBytes(Otlp.Json(Otlp.ThreeHops())));

        Assert.Null(batch.Error);
        Assert.Equal(5, batch.Spans.Count);
        var client = batch.Spans.Single(s => s.SpanId == "b000000000000002");
        Assert.Equal(("reviews-v2", SpanKind.Client, "b000000000000001", Otlp.TraceId), (client.Service, client.Kind, client.ParentSpanId, client.TraceId));
        Assert.Equal(20, client.DurationMs, 6);
        Assert.Equal("503", client.Attribute("http.status_code"));
        Assert.Equal("12", client.Attribute("request_size"));
        Assert.Equal("true", client.Attribute("sampled"));
        Assert.True(client.IsError);
        Assert.Equal("", batch.Spans.Single(s => s.SpanId == "a000000000000001").ParentSpanId);
    }

    [Fact]
    public void Protobuf_ExportRequest_SameSpansAsTheJson()
    {
        var fromJson = OtlpJson.Read(Encoding.UTF8.GetBytes(Otlp.Json(Otlp.ThreeHops()))).Spans;

        var batch = OtlpProtobuf.Read(Otlp.Protobuf(Otlp.ThreeHops()));

        Assert.Null(batch.Error);
        Assert.Equal(
            fromJson.Select(s => (s.TraceId, s.SpanId, s.ParentSpanId, s.Name, s.Kind, s.StartUnixNano, s.EndUnixNano, s.Service, s.StatusCode, s.Attribute("http.status_code"), s.Attribute("request_size"))),
            batch.Spans.Select(s => (s.TraceId, s.SpanId, s.ParentSpanId, s.Name, s.Kind, s.StartUnixNano, s.EndUnixNano, s.Service, s.StatusCode, s.Attribute("http.status_code"), s.Attribute("request_size"))));
    }

    [Fact]
    public void Read_BadInput_ErrorsOrRejectedSpans()
    {
        Assert.StartsWith("invalid JSON", OtlpJson.Read("{\"resourceSpans\": ["u8.ToArray()).Error, StringComparison.Ordinal);
        Assert.StartsWith("invalid protobuf", OtlpProtobuf.Read([0x0a, 0x10, 0x01]).Error, StringComparison.Ordinal);
        var zeroId = OtlpJson.Read(Encoding.UTF8.GetBytes(Otlp.Json(Otlp.ThreeHops().Take(1), traceId: new string('0', 32))));
        Assert.Equal((0, 1), (zeroId.Spans.Count, zeroId.Rejected));
    }

    [Fact]
    public void Tree_SpansFromThreeProxies_ParentsBeforeChildrenWithDepth()
    {
        var spans = OtlpJson.Read(Encoding.UTF8.GetBytes(Otlp.Json(Otlp.ThreeHops().Reverse()))).Spans;

        var tree = TraceStore.Tree(spans);

        Assert.Equal(["a000000000000001", "a000000000000002", "b000000000000001", "b000000000000002", "c000000000000001"], tree.Select(t => t.Span.SpanId));
        Assert.Equal([0, 1, 2, 3, 4], tree.Select(t => t.Depth));
        Assert.All(tree, t => Assert.False(t.Orphan));
    }

    [Fact]
    public void Tree_ParentMissing_OrphanRootAfterTheTrueRoot()
    {
        var spans = OtlpJson.Read(Encoding.UTF8.GetBytes(Otlp.Json(Otlp.ThreeHops().Where(s => s.SpanId != "a000000000000002")))).Spans;

        var tree = TraceStore.Tree(spans);

        Assert.Equal(("a000000000000001", 0, false), (tree[0].Span.SpanId, tree[0].Depth, tree[0].Orphan));
        Assert.Equal(("b000000000000001", 0, true), (tree[1].Span.SpanId, tree[1].Depth, tree[1].Orphan));
        Assert.Equal(2, tree[^1].Depth);
    }

    [Fact]
    public void Store_MoreTracesThanItKeeps_OldestDroppedAndDuplicatesIgnored()
    {
        var store = new TraceStore(maxTraces: 3);
        for (var i = 0; i < 5; i++)
        {
            var id = i.ToString("x32");
            store.Add(OtlpJson.Read(Encoding.UTF8.GetBytes(Otlp.Json(Otlp.ThreeHops(1_700_000_000_000 + i), traceId: id))).Spans);
        }

        store.Add(OtlpJson.Read(Encoding.UTF8.GetBytes(Otlp.Json(Otlp.ThreeHops(), traceId: 2.ToString("x32")))).Spans); // the same spans again

        Assert.Equal(3, store.Count);
        Assert.Null(store.Get(0.ToString("x32")));
        Assert.Equal(5, store.Get(2.ToString("x32"))!.Count);
        var recent = store.Recent(10);
        Assert.Equal([2.ToString("x32"), 4.ToString("x32"), 3.ToString("x32")], recent.Select(r => r.TraceId));
        Assert.Equal(("frontend", 40.0, 5, true), (recent[0].RootService, recent[0].DurationMs, recent[0].SpanCount, recent[0].Error));
        Assert.Equal(["frontend", "ratings", "reviews-v2"], recent[0].Services);
    }
}
