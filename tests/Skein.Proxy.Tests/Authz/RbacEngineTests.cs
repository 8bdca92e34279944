using System.Net;
using Microsoft.AspNetCore.Http;
using Skein.Proxy.Authz;
using Skein.Proxy.Identity;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;
using Skein.Xds.Envoy.Config.Rbac.V3;

namespace Skein.Proxy.Tests.Authz;

/// <summary>
/// Envoy's RBAC matchers, one at a time, in the shapes Istio's translation produces (exact/prefix/suffix
/// principals, the namespace regex, not_id/not_rule for not* fields, headers for methods, hosts and conditions).
/// </summary>
public sealed class RbacEngineTests
{
    private const string Frontend = "spiffe://cluster.local/ns/default/sa/frontend";

    [Theory]
    [InlineData("""{"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/default/sa/frontend"}}}""", Frontend, true)]
    [InlineData("""{"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/default/sa/frontend"}}}""", "spiffe://cluster.local/ns/default/sa/other", false)]
    [InlineData("""{"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/default/sa/frontend"}}}""", null, false)]
    [InlineData("""{"authenticated": {"principal_name": {"prefix": "spiffe://cluster.local/ns/default/"}}}""", Frontend, true)]
    [InlineData("""{"authenticated": {"principal_name": {"suffix": "/sa/frontend"}}}""", "spiffe://other.domain/ns/x/sa/frontend", true)]
    [InlineData("""{"authenticated": {"principal_name": {"safe_regex": {"regex": ".*/ns/default/.*"}}}}""", Frontend, true)]
    [InlineData("""{"authenticated": {"principal_name": {"safe_regex": {"regex": ".*/ns/default/.*"}}}}""", "spiffe://cluster.local/ns/prod/sa/frontend", false)]
    [InlineData("""{"authenticated": {}}""", Frontend, true)]
    [InlineData("""{"authenticated": {}}""", null, false)]
    [InlineData("""{"not_id": {"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/default/sa/frontend"}}}}""", null, true)]
    [InlineData("""{"not_id": {"authenticated": {"principal_name": {"exact": "spiffe://cluster.local/ns/default/sa/frontend"}}}}""", Frontend, false)]
    public void Principal_Authenticated_MatchesPeerSpiffeId(string principalJson, string? peer, bool expected)
    {
        var rules = Compile(RBAC.Types.Action.Allow, """{"any": true}""", principalJson);

        Assert.Equal(expected, rules.Evaluate(Input(peer: peer)).Allowed);
    }

    [Theory]
    [InlineData("""{"direct_remote_ip": {"address_prefix": "10.1.0.0", "prefix_len": 16}}""", "10.1.2.3", null, true)]
    [InlineData("""{"direct_remote_ip": {"address_prefix": "10.1.0.0", "prefix_len": 16}}""", "10.2.2.3", null, false)]
    [InlineData("""{"direct_remote_ip": {"address_prefix": "10.1.2.3", "prefix_len": 32}}""", "10.1.2.3", "192.0.2.1", true)]
    [InlineData("""{"remote_ip": {"address_prefix": "192.0.2.0", "prefix_len": 24}}""", "10.1.2.3", "203.0.113.9, 192.0.2.1", true)]
    [InlineData("""{"remote_ip": {"address_prefix": "192.0.2.0", "prefix_len": 24}}""", "10.1.2.3", "192.0.2.1, 203.0.113.9", false)]
    [InlineData("""{"remote_ip": {"address_prefix": "10.1.0.0", "prefix_len": 16}}""", "10.1.2.3", null, true)]
    [InlineData("""{"not_id": {"or_ids": {"ids": [{"direct_remote_ip": {"address_prefix": "10.1.2.3", "prefix_len": 32}}]}}}""", "10.1.2.3", null, false)]
    public void Principal_Addresses_DirectAndRemote(string principalJson, string peerAddress, string? xff, bool expected)
    {
        var rules = Compile(RBAC.Types.Action.Allow, """{"any": true}""", principalJson);

        Assert.Equal(expected, rules.Evaluate(Input(remote: peerAddress, xff: xff)).Allowed);
    }

    [Theory]
    [InlineData("""{"header": {"name": ":method", "string_match": {"exact": "GET"}}}""", "GET", "/", "svc", true)]
    [InlineData("""{"header": {"name": ":method", "string_match": {"exact": "GET"}}}""", "POST", "/", "svc", false)]
    [InlineData("""{"not_rule": {"or_rules": {"rules": [{"header": {"name": ":method", "string_match": {"exact": "DELETE"}}}]}}}""", "DELETE", "/", "svc", false)]
    [InlineData("""{"header": {"name": ":authority", "string_match": {"exact": "reviews.default", "ignore_case": true}}}""", "GET", "/", "Reviews.DEFAULT", true)]
    [InlineData("""{"header": {"name": ":authority", "string_match": {"prefix": "reviews", "ignore_case": true}}}""", "GET", "/", "ratings", false)]
    [InlineData("""{"header": {"name": ":authority", "present_match": true}}""", "GET", "/", "anything", true)]
    [InlineData("""{"url_path": {"path": {"exact": "/api"}}}""", "GET", "/api?x=1", "svc", true)]
    [InlineData("""{"url_path": {"path": {"exact": "/api"}}}""", "GET", "/api/", "svc", false)]
    [InlineData("""{"url_path": {"path": {"prefix": "/admin"}}}""", "GET", "/admin/users", "svc", true)]
    [InlineData("""{"url_path": {"path": {"prefix": "/admin"}}}""", "GET", "/ADMIN", "svc", false)]
    [InlineData("""{"url_path": {"path": {"suffix": ".html"}}}""", "GET", "/x/index.html", "svc", true)]
    [InlineData("""{"url_path": {"path": {"safe_regex": {"regex": ".+"}}}}""", "GET", "/", "svc", true)]
    [InlineData("""{"not_rule": {"or_rules": {"rules": [{"url_path": {"path": {"prefix": "/public"}}}]}}}""", "GET", "/public/a", "svc", false)]
    public void Permission_HttpFields_MethodHostPath(string permissionJson, string method, string path, string host, bool expected)
    {
        var rules = Compile(RBAC.Types.Action.Allow, permissionJson, """{"any": true}""");

        Assert.Equal(expected, rules.Evaluate(Input(method: method, path: path, host: host)).Allowed);
    }

    [Theory]
    [InlineData("""{"destination_port": 9080}""", true)]
    [InlineData("""{"destination_port": 9090}""", false)]
    [InlineData("""{"destination_port_range": {"start": 9000, "end": 9081}}""", true)]
    [InlineData("""{"destination_ip": {"address_prefix": "198.18.1.0", "prefix_len": 24}}""", true)]
    [InlineData("""{"destination_ip": {"address_prefix": "198.18.2.0", "prefix_len": 24}}""", false)]
    [InlineData("""{"requested_server_name": {"exact": "reviews.default.svc.cluster.local"}}""", true)]
    [InlineData("""{"requested_server_name": {"exact": "other"}}""", false)]
    [InlineData("""{"and_rules": {"rules": [{"destination_port": 9080}, {"not_rule": {"destination_port": 9090}}]}}""", true)]
    public void Permission_ConnectionFields_PortIpSni(string permissionJson, bool expected)
    {
        var rules = Compile(RBAC.Types.Action.Allow, permissionJson, """{"any": true}""");

        Assert.Equal(expected, rules.Evaluate(Input(destination: "198.18.1.5:9080", sni: "reviews.default.svc.cluster.local")).Allowed);
    }

    [Theory]
    [InlineData("""{"header": {"name": "x-user", "string_match": {"exact": "alice"}}}""", "alice", true)]
    [InlineData("""{"header": {"name": "x-user", "string_match": {"exact": "alice"}}}""", "bob", false)]
    [InlineData("""{"header": {"name": "x-user", "string_match": {"exact": "alice"}}}""", null, false)]
    [InlineData("""{"header": {"name": "x-user", "present_match": true}}""", "anyone", true)]
    [InlineData("""{"not_id": {"or_ids": {"ids": [{"header": {"name": "x-user", "string_match": {"prefix": "adm"}}}]}}}""", "admin", false)]
    [InlineData("""{"not_id": {"or_ids": {"ids": [{"header": {"name": "x-user", "string_match": {"prefix": "adm"}}}]}}}""", null, true)]
    public void Principal_RequestHeaderCondition(string principalJson, string? header, bool expected)
    {
        var rules = Compile(RBAC.Types.Action.Allow, """{"any": true}""", principalJson);

        Assert.Equal(expected, rules.Evaluate(Input(headers: header is null ? [] : [("x-user", header)])).Allowed);
    }

    [Fact]
    public void Network_NoHttpRequest_HeaderAndPathNeverMatch()
    {
        var rules = Compile(RBAC.Types.Action.Allow, """{"url_path": {"path": {"prefix": "/"}}}""", """{"any": true}""");
        var connection = Connection(null, "10.1.2.3", "198.18.1.5:9080", null);

        Assert.False(rules.Evaluate(new RbacInput(connection, null)).Allowed);
    }

    [Fact]
    public void Actions_DenyLogAllow_DecideAsEnvoy()
    {
        const string Admin = """{"url_path": {"path": {"prefix": "/admin"}}}""";
        var deny = Compile(RBAC.Types.Action.Deny, Admin, """{"any": true}""");
        var allow = Compile(RBAC.Types.Action.Allow, Admin, """{"any": true}""");
        var log = Compile(RBAC.Types.Action.Log, Admin, """{"any": true}""");

        Assert.Equal(new RbacDecision(false, "p"), deny.Evaluate(Input(path: "/admin")));
        Assert.Equal(new RbacDecision(true, null), deny.Evaluate(Input(path: "/public")));
        Assert.Equal(new RbacDecision(true, "p"), allow.Evaluate(Input(path: "/admin")));
        Assert.Equal(new RbacDecision(false, null), allow.Evaluate(Input(path: "/public")));
        Assert.Equal(new RbacDecision(true, "p"), log.Evaluate(Input(path: "/admin")));
        Assert.Equal(new RbacDecision(true, null), log.Evaluate(Input(path: "/public")));
    }

    [Fact]
    public void Allow_NoPolicies_DeniesEverything()
    {
        var empty = RbacCompiler.Compile(new RBAC { Action = RBAC.Types.Action.Allow });

        Assert.False(empty.Evaluate(Input()).Allowed);
    }

    [Fact]
    public void Policies_EvaluatedInNameOrder_FirstMatchReported()
    {
        var rbac = XdsConfig.Parse<RBAC>("""
            {"action": "DENY", "policies": {
              "ns[default]-policy[b]-rule[0]": {"permissions": [{"any": true}], "principals": [{"any": true}]},
              "ns[default]-policy[a]-rule[0]": {"permissions": [{"any": true}], "principals": [{"any": true}]}}}
            """);

        Assert.Equal("ns[default]-policy[a]-rule[0]", RbacCompiler.Compile(rbac).Evaluate(Input()).MatchedPolicy);
    }

    [Fact]
    public void Compile_PolicyWithoutPrincipals_NamesThePolicy()
    {
        var rbac = XdsConfig.Parse<RBAC>("""{"policies": {"broken": {"permissions": [{"any": true}]}}}""");

        var e = Assert.Throws<ConfigException>(() => RbacCompiler.Compile(rbac));
        Assert.Contains("policies[broken]", e.Message, StringComparison.Ordinal);
    }

    private static RbacPolicies Compile(RBAC.Types.Action action, string permission, string principal)
    {
        var rbac = XdsConfig.Parse<RBAC>("{\"policies\": {\"p\": {\"permissions\": [" + permission + "], \"principals\": [" + principal + "]}}}");
        rbac.Action = action;
        return RbacCompiler.Compile(rbac);
    }

    private static RbacInput Input(
        string method = "GET",
        string path = "/",
        string host = "svc",
        string? peer = null,
        string remote = "10.1.2.3",
        string? xff = null,
        string destination = "198.18.1.5:9080",
        string? sni = null,
        (string Name, string Value)[]? headers = null)
    {
        var connection = Connection(peer, remote, destination, sni);
        var http = new DefaultHttpContext();
        http.Request.Method = method;
        if (xff is not null)
        {
            http.Request.Headers["x-forwarded-for"] = xff;
        }

        foreach (var (name, value) in headers ?? [])
        {
            http.Request.Headers[name] = value;
        }

        var ctx = new ProxyContext(http, RuntimeConfig.Empty, connection, TimeProvider.System) { Authority = host, PathAndQuery = path };
        return new RbacInput(connection, ctx);
    }

    private static DownstreamConnection Connection(string? peer, string remote, string destination, string? sni) => new()
    {
        ConnectionId = "c1",
        Role = ListenerRole.Inbound,
        RemoteEndPoint = new IPEndPoint(IPAddress.Parse(remote), 40000),
        OriginalDestination = IPEndPoint.Parse(destination),
        ServerName = sni,
        Peer = peer is null ? null : new PeerIdentity(peer, [peer]),
    };
}
