using System.Net;
using System.Net.Sockets;
using System.Text;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests.Authz;

/// <summary>
/// AuthorizationPolicy as the proxy enforces it over real sockets: the RBAC filters Istio's translation
/// produces (DENY then ALLOW), 403 <c>RBAC: access denied</c> with flag RBAC, network RBAC closing TCP
/// connections, and a DENY on <c>/admin*</c> that holds against encoded and dotted variants of the path.
/// </summary>
public sealed class AuthorizationTests : IAsyncLifetime
{
    private const string AllowAll = """{"permissions": [{"and_rules": {"rules": [{"any": true}]}}], "principals": [{"and_ids": {"ids": [{"any": true}]}}]}""";
    private const string MatchNever = """{"permissions": [{"not_rule": {"any": true}}], "principals": [{"not_id": {"any": true}}]}""";
    private const string DenyAdmin = """
        {"permissions": [{"and_rules": {"rules": [{"or_rules": {"rules": [{"url_path": {"path": {"prefix": "/admin"}}}]}}]}}],
         "principals": [{"and_ids": {"ids": [{"any": true}]}}]}
        """;

    private TestBackend _backend = null!;
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await TestBackend.StartAsync("v1");
        _proxy = await TestProxy.StartExplicitAsync();
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task Deny_MatchingRequest_403RbacFlagAndPolicyName()
    {
        Configure(deny: $$"""{"ns[default]-policy[deny-admin]-rule[0]": {{DenyAdmin}}}""");

        using var denied = await _proxy.SendAsync("svc", "/admin/users");
        using var allowed = await _proxy.SendAsync("svc", "/public");

        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("RBAC: access denied", await denied.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/admin/users");
        Assert.Equal("RBAC", entry.GetProperty("response_flags").GetString());
        Assert.Equal("rbac_access_denied_matched_policy[ns[default]-policy[deny-admin]-rule[0]]", entry.GetProperty("response_code_details").GetString());
    }

    [Fact]
    public async Task Allow_NoPolicyMatches_403WithPolicyNone()
    {
        Configure(allow: """
            {"ns[default]-policy[get-only]-rule[0]": {"permissions": [{"and_rules": {"rules": [{"or_rules": {"rules": [
              {"header": {"name": ":method", "string_match": {"exact": "GET"}}}]}}]}}], "principals": [{"and_ids": {"ids": [{"any": true}]}}]}}
            """);

        using var get = await _proxy.SendAsync("svc", "/items");
        using var post = await _proxy.SendAsync("svc", "/items-post", HttpMethod.Post);

        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        var entry = await _proxy.AccessLog.WaitForAsync(e => e.GetProperty("path").GetString() == "/items-post");
        Assert.Equal("rbac_access_denied_matched_policy[none]", entry.GetProperty("response_code_details").GetString());
    }

    [Fact]
    public async Task DenyAndAllow_DenyCheckedFirst()
    {
        Configure(
            deny: $$"""{"ns[default]-policy[deny-admin]-rule[0]": {{DenyAdmin}}}""",
            allow: $$"""{"ns[default]-policy[allow-all]-rule[0]": {{AllowAll}}}""");

        using var admin = await _proxy.SendAsync("svc", "/admin");
        using var other = await _proxy.SendAsync("svc", "/other");

        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task EmptyRule_AllowsEverything_NoRules_DeniesEverything()
    {
        Configure(allow: $$"""{"ns[default]-policy[allow-all]-rule[0]": {{AllowAll}}}""");
        using var allowedByEmptyRule = await _proxy.SendAsync("svc", "/anything", HttpMethod.Delete);

        Configure(allow: $$"""{"ns[default]-policy[allow-nothing]-rule[0]": {{MatchNever}}}""");
        using var deniedWithoutRules = await _proxy.SendAsync("svc", "/anything");

        Assert.Equal(HttpStatusCode.OK, allowedByEmptyRule.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, deniedWithoutRules.StatusCode);
    }

    [Fact]
    public async Task Audit_Matching_LetThrough()
    {
        Configure(audit: $$"""{"ns[default]-policy[audit-admin]-rule[0]": {{DenyAdmin}}}""");

        using var response = await _proxy.SendAsync("svc", "/admin");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task DenyAdminPrefix_EncodedAndDottedVariants_HoldAndAppSeesNormalisedPath()
    {
        Configure(deny: $$"""{"ns[default]-policy[deny-admin]-rule[0]": {{DenyAdmin}}}""");
        var denied = new[]
        {
            "/admin", "/admin/../admin", "/%61dmin", "/adm%69n", "//admin", "/public/%2E%2E/admin", "/public/.%2e/admin",
            "/./admin", "/admin/", "/a/b/../../admin", "/%2e%2e/admin", "/admin;x", "/admin?x=/public", "///admin//x",
            "/administrator-guide", // a prefix is a string prefix, as in Istio
        };
        var rejected = new[] { "/%2Fadmin", "/admin%2F", "/%5Cadmin", "/%5cadmin", "/public/..%2Fadmin", "/public/..%2fadmin" };
        var allowed = new (string Sent, string AppSees)[]
        {
            ("/ADMIN", "/ADMIN"), ("/%41DMIN", "/ADMIN"), ("/public/../public", "/public"), ("/public?x=/admin", "/public?x=/admin"),
            ("/p/./x/../y//z", "/p/y/z"), ("/p%7eq%20r", "/p~q%20r"),
        };

        foreach (var path in denied)
        {
            var (status, _) = await RawGetAsync(path);
            Assert.True(status == 403, $"{path}: expected 403, got {status}");
        }

        foreach (var path in rejected)
        {
            var (status, _) = await RawGetAsync(path);
            Assert.True(status == 400, $"{path}: expected 400, got {status}");
        }

        foreach (var (sent, appSees) in allowed)
        {
            var (status, body) = await RawGetAsync(sent);
            Assert.True(status == 200, $"{sent}: expected 200, got {status}");
            Assert.Equal(appSees, EchoReply.Parse(body).Path);
        }
    }

    [Fact]
    public async Task NetworkRbac_DeniedConnection_ClosedWithoutReachingUpstream()
    {
        await using var echo = new TcpEchoServer();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = 7777 });
        proxy.Apply(
            [TcpInbound(7777, "inbound|7777||", """
                {"action": "DENY", "policies": {"ns[default]-policy[deny-port]-rule[0]": {
                  "permissions": [{"and_rules": {"rules": [{"or_rules": {"rules": [{"destination_port": 7777}]}}]}}],
                  "principals": [{"and_ids": {"ids": [{"any": true}]}}]}}}
                """)],
            clusters: [XdsConfig.StaticCluster("inbound|7777||", [echo.Port])]);

        var reply = await SendTcpAsync(proxy.InboundPort, "hello");

        Assert.Empty(reply);
    }

    [Fact]
    public async Task NetworkRbac_AllowMatchesOrNot_RelayedOrClosed()
    {
        await using var echo = new TcpEchoServer();
        await using var proxy = await TestProxy.StartAsync(new ProxyOptions { Mode = CaptureMode.Explicit, AppPort = 7777 });
        const string AllowLoopback = """
            {"action": "ALLOW", "policies": {"ns[default]-policy[local]-rule[0]": {
              "permissions": [{"and_rules": {"rules": [{"any": true}]}}],
              "principals": [{"and_ids": {"ids": [{"or_ids": {"ids": [{"direct_remote_ip": {"address_prefix": "127.0.0.0", "prefix_len": 8}}]}}]}}]}}}
            """;
        proxy.Apply([TcpInbound(7777, "inbound|7777||", AllowLoopback)], clusters: [XdsConfig.StaticCluster("inbound|7777||", [echo.Port])]);
        var allowed = await SendTcpAsync(proxy.InboundPort, "hello");

        proxy.Apply(
            [TcpInbound(7777, "inbound|7777||", AllowLoopback.Replace("127.0.0.0", "10.0.0.0", StringComparison.Ordinal))],
            clusters: [XdsConfig.StaticCluster("inbound|7777||", [echo.Port])]);
        var denied = await SendTcpAsync(proxy.InboundPort, "hello");

        Assert.Equal("hello", allowed);
        Assert.Empty(denied);
    }

    private void Configure(string? deny = null, string? allow = null, string? audit = null)
    {
        var filters = new List<string>();
        foreach (var (action, policies) in new[] { ("LOG", audit), ("DENY", deny), ("ALLOW", allow) })
        {
            if (policies is not null)
            {
                filters.Add("""
                    {"name": "envoy.filters.http.rbac", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                      "rules": {"action": "@ACTION@", "policies": @POLICIES@}}}
                    """.Replace("@ACTION@", action, StringComparison.Ordinal).Replace("@POLICIES@", policies, StringComparison.Ordinal));
            }
        }

        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80", extraFilters: string.Join(",", filters))],
            [XdsConfig.CatchAll("80", "ok")],
            [XdsConfig.StaticCluster("ok", [_backend.Port])]);
    }

    /// <summary>An inbound-style TCP listener whose chain runs network RBAC, then tcp_proxy.</summary>
    private static Skein.Xds.Envoy.Config.Listener.V3.Listener TcpInbound(int port, string cluster, string rules) =>
        XdsConfig.Parse<Skein.Xds.Envoy.Config.Listener.V3.Listener>($$$"""
            {
              "name": "virtualInbound",
              "address": {"socket_address": {"address": "0.0.0.0", "port_value": {{{port}}}}},
              "traffic_direction": "INBOUND",
              "filter_chains": [{"filter_chain_match": {"destination_port": {{{port}}}}, "filters": [
                {"name": "envoy.filters.network.rbac", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
                  "stat_prefix": "tcp.", "rules": {{{rules}}}}},
                {"name": "envoy.filters.network.tcp_proxy", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                  "stat_prefix": "{{{cluster}}}", "cluster": "{{{cluster}}}"}}]}]
            }
            """);

    private static async Task<string> SendTcpAsync(int port, string text)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        try
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(text));
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            return string.Empty; // closed before we could even send
        }

        try
        {
            return Encoding.ASCII.GetString(await ProtocolTests.ReadToEndAsync(socket));
        }
        catch (SocketException)
        {
            return string.Empty; // reset: closed by the proxy
        }
    }

    /// <summary>Sends the request target byte for byte (HttpClient would normalise it first).</summary>
    private async Task<(int Status, string Body)> RawGetAsync(string target)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _proxy.OutboundPort);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n"));
        var text = Encoding.UTF8.GetString(await ProtocolTests.ReadToEndAsync(socket));
        var status = int.Parse(text.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
        var bodyStart = text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        var body = text[bodyStart..];
        if (text.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        return (status, body);
    }

    private static string Dechunk(string chunked)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (i < chunked.Length)
        {
            var eol = chunked.IndexOf("\r\n", i, StringComparison.Ordinal);
            var size = Convert.ToInt32(chunked[i..eol].Split(';')[0], 16);
            if (size == 0)
            {
                break;
            }

            sb.Append(chunked, eol + 2, size);
            i = eol + 2 + size + 2;
        }

        return sb.ToString();
    }
}
