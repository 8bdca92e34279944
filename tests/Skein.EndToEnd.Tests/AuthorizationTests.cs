namespace Skein.EndToEnd.Tests;

/// <summary>
/// Issue 6's authorization acceptance on the real netns runtime: an AuthorizationPolicy on reviews lets only the
/// frontend's identity in (mTLS principal), everyone else gets 403 from reviews' sidecar; a DENY on /admin* holds
/// against encoded and dotted paths sent byte for byte (curl --path-as-is).
/// </summary>
[Collection("mesh")]
public sealed class AuthorizationTests(MeshFixture mesh) : IDisposable
{
    private const string OnlyFrontend = """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: reviews-only-frontend
        spec:
          selector:
            matchLabels:
              app: reviews
          action: ALLOW
          rules:
            - from:
                - source:
                    principals: ["cluster.local/ns/default/sa/frontend"]
        """;

    private const string DenyAdmin = """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: reviews-deny-admin
        spec:
          selector:
            matchLabels:
              app: reviews
          action: DENY
          rules:
            - to:
                - operation:
                    paths: ["/admin*"]
        """;

    private static readonly string[] ReviewsPods = ["reviews-v1-0", "reviews-v2-0", "reviews-v3-0"];

    private readonly List<string> _files = [];

    public void Dispose()
    {
        foreach (var file in _files)
        {
            mesh.Skein("delete", "-f", file);
            File.Delete(file);
        }
    }

    [MeshFact]
    public void AllowOnlyFrontendPrincipal_FrontendSucceedsOtherClientGets403()
    {
        Apply("only-frontend", OnlyFrontend);

        var fromFrontend = SkeinCli.Exec(mesh.RunDir, "frontend-0", "curl -s -o /dev/null -w '%{http_code}\\n' 'http://reviews:9080/reviews/1?n=[1-20]'", TimeSpan.FromSeconds(120));
        var fromClient = mesh.Exec("curl -s -w ' %{http_code}\\n' 'http://reviews:9080/reviews/1?n=[1-20]'");

        Assert.Equal(Enumerable.Repeat("200", 20), Lines(fromFrontend.Stdout));
        Assert.Equal(Enumerable.Repeat("RBAC: access denied 403", 20), Lines(fromClient.Stdout));
        Assert.Contains("\"response_flags\":\"RBAC\"", ReviewsProxyLogs(), StringComparison.Ordinal);
    }

    [MeshFact]
    public void DenyAdmin_EncodedAndDottedVariants_Refused()
    {
        Apply("deny-admin", DenyAdmin);
        string[] denied = ["/admin", "/admin/../admin", "/%61dmin", "//admin", "/public/%2E%2E/admin", "/./admin", "/admin/", "/a/b/../../admin", "/admin;x", "/ADMIN/../admin", "/%2e%2e/admin", "/adm%69n/x"];
        string[] rejected = ["/%2Fadmin", "/admin%2F", "/%5Cadmin", "/public/..%2Fadmin"];

        var script = string.Join("; ", denied.Concat(rejected).Append("/ADMIN").Select(p => $"curl -s --path-as-is -o /dev/null -w '{p} %{{http_code}}\\n' 'http://reviews:9080{p}'"));
        var codes = Lines(mesh.Exec(script, 180).Stdout).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[1]);

        Assert.All(denied, p => Assert.True(codes[p] == "403", $"{p}: {codes[p]}"));
        Assert.All(rejected, p => Assert.True(codes[p] == "400", $"{p}: {codes[p]}"));
        Assert.NotEqual("403", codes["/ADMIN"]); // paths are case-sensitive: /ADMIN is another resource
    }

    private void Apply(string name, string yaml)
    {
        var file = Path.Combine(Path.GetTempPath(), $"skein-e2e-authz-{name}-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, yaml);
        _files.Add(file);
        var apply = mesh.Skein("apply", "-f", file);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Thread.Sleep(3000); // config reaches every sidecar
    }

    private string ReviewsProxyLogs() => string.Join('\n', ReviewsPods.Select(mesh.ProxyLog));

    private static List<string> Lines(string text) => [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim())];
}
