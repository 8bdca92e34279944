using System.Net;
using Skein.Proxy.Runtime;
using Skein.Proxy.Tests.Infrastructure;

namespace Skein.Proxy.Tests;

/// <summary>CORS policies on routes and virtual hosts: preflights answered by the proxy, headers on actual responses.</summary>
public sealed class CorsTests : IAsyncLifetime
{
    private ScriptedBackend _backend = null!;
    private TestProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await ScriptedBackend.StartAsync("app");
        _proxy = await TestProxy.StartExplicitAsync(new SeededRandomSource(1));
        _proxy.Apply(
            [XdsConfig.HttpListener(80, "80")],
            [
                XdsConfig.Routes("80", """
                    [{"name": "h", "domains": ["*"],
                      "cors": {"allow_origin_string_match": [{"exact": "https://vh.example"}], "allow_methods": "GET"},
                      "routes": [
                        {"match": {"prefix": "/vh"}, "route": {"cluster": "app"}},
                        {"match": {"prefix": "/"}, "route": {"cluster": "app", "cors": {
                          "allow_origin_string_match": [{"exact": "https://shop.example"}, {"prefix": "https://dev."}, {"safe_regex": {"regex": "https://[a-z]+\\.test"}}],
                          "allow_methods": "GET,POST", "allow_headers": "content-type,x-token", "expose_headers": "x-backend",
                          "max_age": "600", "allow_credentials": true}}}]}]
                    """),
            ],
            [XdsConfig.StaticCluster("app", [_backend.Port])]);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Theory]
    [InlineData("https://shop.example")]
    [InlineData("https://dev.anything")]
    [InlineData("https://abc.test")]
    public async Task Preflight_AllowedOrigin_AnsweredByTheProxy(string origin)
    {
        using var response = await PreflightAsync("/items", origin);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(origin, Header(response, "access-control-allow-origin"));
        Assert.Equal("GET,POST", Header(response, "access-control-allow-methods"));
        Assert.Equal("content-type,x-token", Header(response, "access-control-allow-headers"));
        Assert.Equal("600", Header(response, "access-control-max-age"));
        Assert.Equal("true", Header(response, "access-control-allow-credentials"));
        Assert.Equal(0, _backend.Count);
    }

    [Fact]
    public async Task Preflight_OtherOrigin_ForwardedWithoutCorsHeaders()
    {
        using var response = await PreflightAsync("/items", "https://evil.example");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("app", Header(response, "x-backend"));
        Assert.Null(Header(response, "access-control-allow-origin"));
        Assert.Equal(1, _backend.Count);
    }

    [Fact]
    public async Task ActualRequest_AllowedOrigin_ResponseCarriesCorsHeaders()
    {
        using var response = await _proxy.SendAsync("svc", "/items", configure: r => r.Headers.Add("Origin", "https://shop.example"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("https://shop.example", Header(response, "access-control-allow-origin"));
        Assert.Equal("x-backend", Header(response, "access-control-expose-headers"));
        Assert.Equal("true", Header(response, "access-control-allow-credentials"));
        Assert.Null(Header(response, "access-control-allow-methods"));
    }

    [Fact]
    public async Task ActualRequest_NoOrigin_NoCorsHeaders()
    {
        using var response = await _proxy.SendAsync("svc", "/items");

        Assert.Null(Header(response, "access-control-allow-origin"));
    }

    [Fact]
    public async Task VirtualHostPolicy_AppliesToRoutesWithoutTheirOwn()
    {
        using var preflight = await PreflightAsync("/vh/x", "https://vh.example");
        using var other = await PreflightAsync("/vh/x", "https://shop.example");

        Assert.Equal("https://vh.example", Header(preflight, "access-control-allow-origin"));
        Assert.Equal("GET", Header(preflight, "access-control-allow-methods"));
        Assert.Equal(1, _backend.Count); // the second one was forwarded: the route has the host's policy
        Assert.Null(Header(other, "access-control-allow-origin"));
    }

    private Task<HttpResponseMessage> PreflightAsync(string path, string origin) =>
        _proxy.SendAsync("svc", path, HttpMethod.Options, r =>
        {
            r.Headers.Add("Origin", origin);
            r.Headers.Add("Access-Control-Request-Method", "POST");
        });

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var v) ? string.Join(",", v)
        : response.Content.Headers.TryGetValues(name, out var c) ? string.Join(",", c) : null;
}
