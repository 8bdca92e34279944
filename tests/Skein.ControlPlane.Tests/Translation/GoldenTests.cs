using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Translation;
using Skein.Xds;

namespace Skein.ControlPlane.Tests.Translation;

/// <summary>
/// Golden files: for each case under <c>testdata/&lt;case&gt;/</c>, the mesh in <c>input.yaml</c> and the proxy
/// in <c>case.json</c> (<c>{"proxy": instance id, "mode", "mtls"}</c>, or <c>"workload"</c> + <c>"labels"</c> for an
/// unregistered client) must translate to exactly <c>lds.json</c>, <c>rds.json</c>, <c>cds.json</c> and
/// <c>eds.json</c>. Run with <c>SKEIN_REFRESH_GOLDEN=1</c> to rewrite them, then review the diff.
/// </summary>
public sealed class GoldenTests
{
    private static readonly (string File, Func<ProxyResources, TypeResources> Select)[] Files =
    [
        ("lds.json", r => r.Listeners),
        ("rds.json", r => r.Routes),
        ("cds.json", r => r.Clusters),
        ("eds.json", r => r.Endpoints),
    ];

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(Path.Combine(AppContext.BaseDirectory, "Translation", "testdata")).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(dir));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Generate_Case_MatchesGoldenFiles(string name)
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "Translation", "testdata", name);
        var (snapshot, node) = Load(dir);
        var resources = TestMesh.Generate(snapshot, node);

        var refresh = Environment.GetEnvironmentVariable("SKEIN_REFRESH_GOLDEN") == "1";
        var failures = new List<string>();
        foreach (var (file, select) in Files)
        {
            var actual = Format(select(resources));
            if (refresh)
            {
                File.WriteAllText(Path.Combine(SourceTestData(), name, file), actual);
                continue;
            }

            var path = Path.Combine(dir, file);
            var expected = File.Exists(path) ? File.ReadAllText(path) : "(missing)";
            if (!string.Equals(expected.ReplaceLineEndings("\n"), actual, StringComparison.Ordinal))
            {
                failures.Add($"{name}/{file} differs from the generated resources; first difference near: {FirstDifference(expected, actual)}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n(run with SKEIN_REFRESH_GOLDEN=1 to rewrite, then review the diff)");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Generate_Case_EveryResourceRoundTripsThroughXdsJson(string name)
    {
        var (snapshot, node) = Load(Path.Combine(AppContext.BaseDirectory, "Translation", "testdata", name));
        var resources = TestMesh.Generate(snapshot, node);
        foreach (var (_, select) in Files)
        {
            foreach (var item in select(resources).Items)
            {
                var json = XdsTypeRegistry.JsonFormatter.Format(item.Any);
                var parsed = XdsTypeRegistry.JsonParser.Parse<Google.Protobuf.WellKnownTypes.Any>(json);
                Assert.Equal(item.Any, parsed);
            }
        }
    }

    internal static (MeshSnapshot Snapshot, ProxyNode Node) Load(string dir)
    {
        var input = File.ReadAllText(Path.Combine(dir, "input.yaml"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
        var root = doc.RootElement;
        var mode = root.TryGetProperty("mode", out var m) ? m.GetString()! : "sidecar";
        var mtls = root.TryGetProperty("mtls", out var t) && t.GetBoolean();
        var snapshot = TestMesh.Build(input, new MeshSettings(mtls));
        ProxyNode node;
        if (root.TryGetProperty("proxy", out var proxy))
        {
            node = TestMesh.Node(proxy.GetString()!, mode, root.TryGetProperty("namespace", out var ns) ? ns.GetString()! : "default");
        }
        else
        {
            var labels = root.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            node = TestMesh.Client(root.GetProperty("workload").GetString()!, labels, root.TryGetProperty("namespace", out var ns) ? ns.GetString()! : "default", mode);
        }

        return (snapshot, node);
    }

    /// <summary>Resources as an indented JSON array, in name order.</summary>
    internal static string Format(TypeResources resources)
    {
        var sb = new StringBuilder("[\n");
        for (var i = 0; i < resources.Items.Length; i++)
        {
            using var doc = JsonDocument.Parse(XdsTypeRegistry.JsonFormatter.Format(resources.Items[i].Message));
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                doc.WriteTo(w);
            }

            var text = Encoding.UTF8.GetString(stream.ToArray()).ReplaceLineEndings("\n");
            sb.Append(string.Join('\n', text.Split('\n').Select(line => "  " + line)));
            sb.Append(i < resources.Items.Length - 1 ? ",\n" : "\n");
        }

        return sb.Append("]\n").ToString();
    }

    private static string FirstDifference(string expected, string actual)
    {
        var e = expected.ReplaceLineEndings("\n").Split('\n');
        var a = actual.Split('\n');
        for (var i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            var el = i < e.Length ? e[i] : "(end)";
            var al = i < a.Length ? a[i] : "(end)";
            if (el != al)
            {
                return $"line {i + 1}: expected `{el.Trim()}`, got `{al.Trim()}`";
            }
        }

        return "(none)";
    }

    private static string SourceTestData([CallerFilePath] string path = "") => Path.Combine(Path.GetDirectoryName(path)!, "testdata");
}
