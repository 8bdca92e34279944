using Skein.ControlPlane.Translation;

namespace Skein.ControlPlane.Tests.Translation;

/// <summary>
/// AuthorizationPolicy field by field, through the generated inbound RBAC filters of the reviews sidecar:
/// "this call, from that peer, is allowed or denied" (HTTP on 9080, TCP on 9090).
/// </summary>
public sealed class AuthorizationSimulationTests
{
    private const string Frontend = "spiffe://cluster.local/ns/default/sa/frontend";
    private const string Catalog = "spiffe://cluster.local/ns/default/sa/catalog";
    private const string ProdApp = "spiffe://cluster.local/ns/prod/sa/app";

    private const string Mesh = """
        apiVersion: skein.dev/v1alpha1
        kind: Workload
        metadata:
          name: reviews
        spec:
          command: [bookstore]
          labels:
            app: reviews
          ports:
            - name: http
              port: 9080
              protocol: HTTP
            - name: tcp
              port: 9090
              protocol: TCP
          serviceAccount: reviews
        ---
        apiVersion: skein.dev/v1alpha1
        kind: Workload
        metadata:
          name: frontend
        spec:
          command: [bookstore]
          ports:
            - name: http
              port: 9080
              protocol: HTTP
          serviceAccount: frontend
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
        spec:
          selector:
            app: reviews
          ports:
            - name: http
              port: 9080
            - name: tcp
              port: 9090
        """;

    [Theory]
    [InlineData(Frontend, true)]
    [InlineData(Catalog, false)]
    [InlineData(null, false)]
    public void Principals_OnlyFrontend_OthersAndPlaintextDenied(string? peer, bool allowed)
    {
        var policy = Allow("""
            - from:
                - source:
                    principals: ["cluster.local/ns/default/sa/frontend"]
            """);

        var verdict = Evaluate(policy, new SimCall(Principal: peer));

        Assert.Equal(allowed, verdict.Allowed);
        Assert.Equal(allowed ? null : "ALLOW", verdict.DecidedBy);
    }

    [Theory]
    [InlineData("principals: [\"cluster.local/ns/default/*\"]", Frontend, true)]
    [InlineData("principals: [\"cluster.local/ns/default/*\"]", ProdApp, false)]
    [InlineData("principals: [\"*/sa/app\"]", ProdApp, true)]
    [InlineData("principals: [\"*\"]", Catalog, true)]
    [InlineData("principals: [\"*\"]", null, false)]
    [InlineData("notPrincipals: [\"cluster.local/ns/default/sa/catalog\"]", Frontend, true)]
    [InlineData("notPrincipals: [\"cluster.local/ns/default/sa/catalog\"]", Catalog, false)]
    [InlineData("notPrincipals: [\"cluster.local/ns/default/sa/catalog\"]", null, true)]
    [InlineData("namespaces: [\"prod\"]", ProdApp, true)]
    [InlineData("namespaces: [\"prod\"]", Frontend, false)]
    [InlineData("namespaces: [\"prod\"]", null, false)]
    [InlineData("namespaces: [\"pro*\"]", ProdApp, true)]
    [InlineData("notNamespaces: [\"prod\"]", Frontend, true)]
    [InlineData("notNamespaces: [\"prod\"]", ProdApp, false)]
    [InlineData("serviceAccounts: [\"default/frontend\"]", Frontend, true)]
    [InlineData("serviceAccounts: [\"default/frontend\"]", Catalog, false)]
    [InlineData("notServiceAccounts: [\"default/frontend\"]", Catalog, true)]
    public void Source_PeerIdentityFields(string field, string? peer, bool allowed)
    {
        var policy = Allow($"""
            - from:
                - source:
                    {field}
            """);

        Assert.Equal(allowed, Evaluate(policy, new SimCall(Principal: peer)).Allowed);
    }

    [Theory]
    [InlineData("ipBlocks: [\"198.18.1.0/24\"]", "198.18.1.10", null, true)]
    [InlineData("ipBlocks: [\"198.18.1.10\"]", "198.18.1.11", null, false)]
    [InlineData("notIpBlocks: [\"198.18.1.0/24\"]", "198.18.1.10", null, false)]
    [InlineData("remoteIpBlocks: [\"203.0.113.0/24\"]", "198.18.1.10", "203.0.113.7", true)]
    [InlineData("remoteIpBlocks: [\"203.0.113.0/24\"]", "198.18.1.10", null, false)]
    [InlineData("notRemoteIpBlocks: [\"203.0.113.0/24\"]", "198.18.1.10", "203.0.113.7", false)]
    public void Source_Addresses(string field, string sourceIp, string? xff, bool allowed)
    {
        var policy = Allow($"""
            - from:
                - source:
                    {field}
            """);

        Assert.Equal(allowed, Evaluate(policy, new SimCall(SourceIp: sourceIp, ForwardedFor: xff)).Allowed);
    }

    [Fact]
    public void RequestPrincipals_NoJwtSupport_AllowNeverMatchesAndNotFormDeniesAll()
    {
        var allow = Allow("""
            - from:
                - source:
                    requestPrincipals: ["*"]
            """);
        var deny = Policy("require-jwt", "DENY", """
            - from:
                - source:
                    notRequestPrincipals: ["*"]
            """);

        Assert.False(Evaluate(allow, new SimCall(Principal: Frontend)).Allowed);
        Assert.False(Evaluate(deny, new SimCall(Principal: Frontend)).Allowed);
    }

    [Theory]
    [InlineData("hosts: [\"reviews.default.svc.cluster.local\"]", "GET", "/", "Reviews.Default.Svc.Cluster.Local", true)]
    [InlineData("hosts: [\"reviews.*\"]", "GET", "/", "ratings", false)]
    [InlineData("notHosts: [\"*.evil\"]", "GET", "/", "x.EVIL", false)]
    [InlineData("methods: [\"GET\", \"HEAD\"]", "HEAD", "/", "reviews", true)]
    [InlineData("methods: [\"GET\"]", "POST", "/", "reviews", false)]
    [InlineData("notMethods: [\"DELETE\"]", "DELETE", "/", "reviews", false)]
    [InlineData("paths: [\"/api\"]", "GET", "/api?x=1", "reviews", true)]
    [InlineData("paths: [\"/api\"]", "GET", "/api/", "reviews", false)]
    [InlineData("paths: [\"/api/*\"]", "GET", "/api/books/1", "reviews", true)]
    [InlineData("paths: [\"*.json\"]", "GET", "/books.json", "reviews", true)]
    [InlineData("paths: [\"*\"]", "GET", "/anything", "reviews", true)]
    [InlineData("paths: [\"/API/*\"]", "GET", "/api/x", "reviews", false)]
    [InlineData("notPaths: [\"/admin*\"]", "GET", "/admin/x", "reviews", false)]
    [InlineData("paths: [\"/books/{*}/reviews\"]", "GET", "/books/12/reviews", "reviews", true)]
    [InlineData("paths: [\"/books/{*}/reviews\"]", "GET", "/books/12/13/reviews", "reviews", false)]
    [InlineData("paths: [\"/books/{**}\"]", "GET", "/books/12/13/reviews", "reviews", true)]
    [InlineData("ports: [\"9080\"]", "GET", "/", "reviews", true)]
    [InlineData("notPorts: [\"9080\"]", "GET", "/", "reviews", false)]
    public void Operation_Fields(string field, string method, string path, string host, bool allowed)
    {
        var policy = Allow($"""
            - to:
                - operation:
                    {field}
            """);

        Assert.Equal(allowed, Evaluate(policy, new SimCall(Method: method, Path: path, Host: host)).Allowed);
    }

    [Theory]
    [InlineData("request.headers[x-user]", "values: [\"alice\"]", true)]
    [InlineData("request.headers[x-user]", "values: [\"bo*\"]", false)]
    [InlineData("request.headers[x-user]", "notValues: [\"alice\"]", false)]
    [InlineData("request.headers[x-missing]", "values: [\"*\"]", false)]
    [InlineData("source.ip", "values: [\"198.18.1.0/24\"]", true)]
    [InlineData("remote.ip", "values: [\"203.0.113.7\"]", true)]
    [InlineData("source.namespace", "values: [\"default\"]", true)]
    [InlineData("source.namespace", "notValues: [\"default\"]", false)]
    [InlineData("source.principal", "values: [\"cluster.local/ns/default/sa/frontend\"]", true)]
    [InlineData("source.principal", "values: [\"cluster.local/ns/default/sa/catalog\"]", false)]
    [InlineData("destination.ip", "values: [\"198.18.1.20\"]", true)]
    [InlineData("destination.ip", "notValues: [\"198.18.1.0/24\"]", false)]
    [InlineData("destination.port", "values: [\"9080\"]", true)]
    [InlineData("destination.port", "values: [\"9443\"]", false)]
    [InlineData("connection.sni", "values: [\"outbound_.9080_._.reviews.default.svc.cluster.local\"]", true)]
    [InlineData("connection.sni", "values: [\"*.example.com\"]", false)]
    public void When_Conditions(string key, string values, bool allowed)
    {
        var policy = Allow($"""
            - when:
                - key: {key}
                  {values}
            """);
        var call = new SimCall(
            Principal: Frontend,
            ForwardedFor: "203.0.113.7",
            Sni: "outbound_.9080_._.reviews.default.svc.cluster.local",
            Headers: new Dictionary<string, string> { ["x-user"] = "alice" });

        Assert.Equal(allowed, Evaluate(policy, call).Allowed);
    }

    [Fact]
    public void DenyAndAllow_DenyWinsThenAllowDecides()
    {
        var yaml = Allow("""
            - from:
                - source:
                    principals: ["cluster.local/ns/default/sa/frontend"]
            """) + Policy("deny-admin", "DENY", """
            - to:
                - operation:
                    paths: ["/admin*"]
            """);

        var admin = Evaluate(yaml, new SimCall(Path: "/admin", Principal: Frontend));
        var books = Evaluate(yaml, new SimCall(Path: "/books", Principal: Frontend));
        var stranger = Evaluate(yaml, new SimCall(Path: "/books", Principal: Catalog));

        Assert.Equal(new SimVerdict(false, "DENY", "ns[default]-policy[deny-admin]-rule[0]"), admin);
        Assert.True(books.Allowed);
        Assert.Equal(new SimVerdict(false, "ALLOW", null), stranger);
    }

    [Fact]
    public void EmptyRule_AllowsAll_NoRules_AllowDeniesAll_DenyDeniesNothing()
    {
        var allowAll = Policy("allow-all", "ALLOW", "- {}");
        var allowNothing = Policy("allow-nothing", "ALLOW", null);
        var denyNothing = Policy("deny-nothing", "DENY", null);

        Assert.True(Evaluate(allowAll, new SimCall(Method: "DELETE")).Allowed);
        Assert.False(Evaluate(allowNothing, new SimCall(Principal: Frontend)).Allowed);
        Assert.True(Evaluate(denyNothing, new SimCall()).Allowed);
    }

    [Fact]
    public void Audit_MatchingPolicy_DoesNotChangeTheDecision()
    {
        var yaml = Policy("audit-all", "AUDIT", "- {}");

        var resources = Generate(yaml);

        Assert.True(RbacSimulator.Inbound(resources, new SimCall()).Allowed);
        Assert.Contains("envoy.filters.http.rbac", ListenerJson(resources), StringComparison.Ordinal);
    }

    [Fact]
    public void Scope_RootNamespaceAppliesEverywhere_OtherNamespaceNot_SelectorOnlyWhenItMatches()
    {
        var root = Policy("deny-all", "DENY", "- {}", ns: "skein-system");
        var other = Policy("deny-all", "DENY", "- {}", ns: "prod");
        var selected = Policy("deny-all", "DENY", "- {}", selector: "app: reviews");
        var notSelected = Policy("deny-all", "DENY", "- {}", selector: "app: ratings");

        Assert.Equal(new SimVerdict(false, "DENY", "ns[skein-system]-policy[deny-all]-rule[0]"), Evaluate(root, new SimCall()));
        Assert.True(Evaluate(other, new SimCall()).Allowed);
        Assert.False(Evaluate(selected, new SimCall()).Allowed);
        Assert.True(Evaluate(notSelected, new SimCall()).Allowed);
    }

    [Fact]
    public void Custom_NotTranslated()
    {
        var yaml = Policy("ext", "CUSTOM", "- {}").Replace("  action: CUSTOM", "  action: CUSTOM\n  provider:\n    name: ext-authz", StringComparison.Ordinal);

        Assert.DoesNotContain("rbac", ListenerJson(Generate(yaml)), StringComparison.Ordinal);
    }

    [Fact]
    public void Tcp_AllowRuleWithHttpFields_DroppedSoConnectionDenied()
    {
        var yaml = Allow("""
            - to:
                - operation:
                    methods: ["GET"]
            """);

        Assert.True(Evaluate(yaml, new SimCall(Port: 9080)).Allowed);
        Assert.Equal(new SimVerdict(false, "ALLOW", null), Evaluate(yaml, new SimCall(Port: 9090)));
    }

    [Fact]
    public void Tcp_AllowRuleWithPortsAndPrincipals_Applies()
    {
        var yaml = Allow("""
            - from:
                - source:
                    principals: ["cluster.local/ns/default/sa/frontend"]
              to:
                - operation:
                    ports: ["9090"]
            """);

        Assert.True(Evaluate(yaml, new SimCall(Port: 9090, Principal: Frontend)).Allowed);
        Assert.False(Evaluate(yaml, new SimCall(Port: 9090, Principal: Catalog)).Allowed);
    }

    [Fact]
    public void Tcp_DenyRuleWithHttpFields_HttpFieldsIgnoredSoItMatchesMore()
    {
        var yaml = Policy("deny-admin", "DENY", """
            - to:
                - operation:
                    paths: ["/admin*"]
                    ports: ["9090"]
            """);

        Assert.True(Evaluate(yaml, new SimCall(Port: 9080, Path: "/admin")).Allowed); // the rule is for port 9090
        Assert.Equal(new SimVerdict(false, "DENY", "ns[default]-policy[deny-admin]-rule[0]"), Evaluate(yaml, new SimCall(Port: 9090))); // any connection
    }

    [Fact]
    public void Passthrough_UndeclaredPort_AllowPolicyApplies()
    {
        var yaml = Allow("""
            - from:
                - source:
                    principals: ["cluster.local/ns/default/sa/frontend"]
            """);

        Assert.False(Evaluate(yaml, new SimCall(Port: 7000, Principal: Catalog)).Allowed);
        Assert.True(Evaluate(yaml, new SimCall(Port: 7000, Principal: Frontend)).Allowed);
    }

    [Fact]
    public void NoPolicy_NoRbacFilters()
    {
        Assert.DoesNotContain("rbac", ListenerJson(Generate(string.Empty)), StringComparison.Ordinal);
    }

    private static string Allow(string rules) => Policy("allow", "ALLOW", rules);

    private static string Policy(string name, string action, string? rules, string ns = "default", string? selector = null)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ").Append(name)
            .Append("\n  namespace: ").Append(ns).Append("\nspec:\n  action: ").Append(action).Append('\n');
        if (selector is not null)
        {
            sb.Append("  selector:\n    matchLabels:\n      ").Append(selector).Append('\n');
        }

        if (rules is not null)
        {
            sb.Append("  rules:\n");
            foreach (var line in rules.Split('\n'))
            {
                sb.Append("    ").Append(line).Append('\n');
            }
        }

        return sb.ToString();
    }

    private static ProxyResources Generate(string policies) =>
        TestMesh.Generate(TestMesh.Build(Mesh + policies), TestMesh.Node("reviews-0"));

    private static SimVerdict Evaluate(string policies, SimCall call) => RbacSimulator.Inbound(Generate(policies), call);

    private static string ListenerJson(ProxyResources resources) =>
        Skein.Xds.XdsTypeRegistry.JsonFormatter.Format(resources.Listeners.ByName["virtualInbound"].Message);
}
