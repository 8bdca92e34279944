using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Rbac.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.LocalRatelimit.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.TcpProxy.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using Skein.Xds.Envoy.Service.Discovery.V3;
using HttpRbac = Skein.Xds.Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using NetworkRbac = Skein.Xds.Envoy.Extensions.Filters.Network.Rbac.V3.RBAC;
using UpstreamHttpProtocolOptions = Skein.Xds.Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;

namespace Skein.Xds.Tests;

public sealed class JsonTests
{
    private const string InboundHttpListener = """
        {
          "name": "virtualInbound",
          "address": { "socket_address": { "address": "0.0.0.0", "port_value": 15006 } },
          "use_original_dst": true,
          "traffic_direction": "INBOUND",
          "listener_filters": [
            { "name": "envoy.filters.listener.original_dst", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst" } },
            { "name": "envoy.filters.listener.tls_inspector", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } },
            { "name": "envoy.filters.listener.http_inspector", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector" } }
          ],
          "filter_chains": [
            {
              "name": "inbound|9080||",
              "filter_chain_match": { "destination_port": 9080, "transport_protocol": "tls", "application_protocols": ["h2", "http/1.1"] },
              "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                  "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                  "require_client_certificate": true,
                  "common_tls_context": {
                    "tls_params": { "tls_minimum_protocol_version": "TLSv1_3" },
                    "alpn_protocols": ["h2", "http/1.1"],
                    "tls_certificate_sds_secret_configs": [ { "name": "default", "sds_config": { "ads": {}, "resource_api_version": "V3" } } ],
                    "validation_context_sds_secret_config": { "name": "ROOTCA", "sds_config": { "ads": {} } }
                  }
                }
              },
              "filters": [
                {
                  "name": "envoy.filters.network.http_connection_manager",
                  "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "inbound_9080",
                    "codec_type": "AUTO",
                    "stream_idle_timeout": "300s",
                    "forward_client_cert_details": "APPEND_FORWARD",
                    "route_config": {
                      "name": "inbound|9080||",
                      "virtual_hosts": [
                        {
                          "name": "inbound|http|9080",
                          "domains": ["*"],
                          "routes": [
                            {
                              "match": { "prefix": "/", "headers": [ { "name": ":method", "string_match": { "exact": "GET" } } ] },
                              "route": { "cluster": "inbound|9080||", "timeout": "0s", "max_stream_duration": { "max_stream_duration": "0.500s" } },
                              "decorator": { "operation": "reviews:9080/*" }
                            }
                          ]
                        }
                      ]
                    },
                    "http_filters": [
                      {
                        "name": "envoy.filters.http.rbac",
                        "typed_config": {
                          "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                          "rules": {
                            "action": "ALLOW",
                            "policies": {
                              "ns[default]-policy[allow-productpage]-rule[0]": {
                                "permissions": [ { "and_rules": { "rules": [ { "url_path": { "path": { "prefix": "/reviews" } } } ] } } ],
                                "principals": [ { "authenticated": { "principal_name": { "exact": "spiffe://cluster.local/ns/default/sa/productpage" } } } ]
                              }
                            }
                          }
                        }
                      },
                      {
                        "name": "envoy.filters.http.local_ratelimit",
                        "typed_config": {
                          "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                          "stat_prefix": "http_local_rate_limiter",
                          "status": { "code": "TooManyRequests" },
                          "token_bucket": { "max_tokens": 100, "tokens_per_fill": 10, "fill_interval": "1s" },
                          "filter_enabled": { "default_value": { "numerator": 100, "denominator": "HUNDRED" } },
                          "filter_enforced": { "default_value": { "numerator": 100, "denominator": "HUNDRED" } },
                          "response_headers_to_add": [ { "header": { "key": "x-local-rate-limit", "value": "true" }, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD" } ]
                        }
                      },
                      {
                        "name": "envoy.filters.http.fault",
                        "typed_config": {
                          "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                          "delay": { "fixed_delay": "0.250s", "percentage": { "numerator": 10, "denominator": "HUNDRED" } },
                          "abort": { "http_status": 503, "percentage": { "numerator": 1, "denominator": "TEN_THOUSAND" } },
                          "max_active_faults": 10
                        }
                      },
                      { "name": "envoy.filters.http.router", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }
                    ]
                  }
                }
              ]
            }
          ]
        }
        """;

    private const string TcpListener = """
        {
          "name": "0.0.0.0_3306",
          "address": { "socketAddress": { "address": "0.0.0.0", "portValue": 3306 } },
          "bindToPort": false,
          "defaultFilterChain": {
            "filters": [
              {
                "name": "envoy.filters.network.rbac",
                "typedConfig": {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
                  "statPrefix": "tcp.",
                  "rules": { "action": "DENY", "policies": { "deny-all": { "permissions": [ { "any": true } ], "principals": [ { "notId": { "remoteIp": { "addressPrefix": "10.0.0.0", "prefixLen": 8 } } } ] } } }
                }
              },
              {
                "name": "envoy.filters.network.tcp_proxy",
                "typedConfig": {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                  "statPrefix": "outbound|3306||mysql.default.svc.cluster.local",
                  "weightedClusters": { "clusters": [ { "name": "outbound|3306|v1|mysql.default.svc.cluster.local", "weight": 80 }, { "name": "outbound|3306|v2|mysql.default.svc.cluster.local", "weight": 20 } ] },
                  "idleTimeout": "3600s"
                }
              }
            ]
          }
        }
        """;

    private const string StaticCluster = """
        {
          "name": "xds-grpc",
          "type": "STRICT_DNS",
          "connect_timeout": "1s",
          "lb_policy": "ROUND_ROBIN",
          "load_assignment": {
            "cluster_name": "xds-grpc",
            "endpoints": [ { "lb_endpoints": [ { "endpoint": { "address": { "socket_address": { "address": "skein-control", "port_value": 15010 } } } } ] } ]
          },
          "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              "common_http_protocol_options": { "idle_timeout": "3600s", "max_requests_per_connection": 1000 },
              "explicit_http_config": { "http2_protocol_options": { "max_concurrent_streams": 1073741824 } }
            }
          },
          "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
              "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
              "sni": "skein-control",
              "common_tls_context": {
                "tls_certificates": [ { "certificate_chain": { "filename": "/etc/skein/cert.pem" }, "private_key": { "filename": "/etc/skein/key.pem" } } ],
                "validation_context": { "trusted_ca": { "filename": "/etc/skein/root.pem" }, "match_typed_subject_alt_names": [ { "san_type": "URI", "matcher": { "prefix": "spiffe://cluster.local/" } } ] }
              }
            }
          },
          "circuit_breakers": { "thresholds": [ { "priority": "HIGH", "max_connections": 100000, "max_pending_requests": 100000, "max_requests": 100000 } ] },
          "upstream_connection_options": { "tcp_keepalive": { "keepalive_time": 300 } }
        }
        """;

    [Fact]
    public void Parse_InboundListenerJson_ResolvesEveryTypedConfig()
    {
        var listener = XdsTypeRegistry.JsonParser.Parse<Listener>(InboundHttpListener);

        Assert.Equal(ResourceNames.VirtualInbound, listener.Name);
        Assert.True(listener.UseOriginalDst);
        Assert.Equal(
            [TypeUrls.OriginalDst, TypeUrls.TlsInspector, TypeUrls.HttpInspector],
            listener.ListenerFilters.Select(f => f.TypedConfig.TypeUrl));

        var chain = Assert.Single(listener.FilterChains);
        Assert.Equal(9080u, chain.FilterChainMatch.DestinationPort);
        var tls = chain.TransportSocket.TypedConfig.Unpack<DownstreamTlsContext>();
        Assert.True(tls.RequireClientCertificate);
        Assert.Equal(TlsParameters.Types.TlsProtocol.Tlsv13, tls.CommonTlsContext.TlsParams.TlsMinimumProtocolVersion);

        var hcm = Assert.Single(chain.Filters).TypedConfig.Unpack<HttpConnectionManager>();
        Assert.Equal(HttpConnectionManager.Types.ForwardClientCertDetails.AppendForward, hcm.ForwardClientCertDetails);
        Assert.Equal(TimeSpan.FromMilliseconds(500), hcm.RouteConfig.VirtualHosts[0].Routes[0].Route_.MaxStreamDuration.MaxStreamDuration_.ToTimeSpan());

        var rbac = hcm.HttpFilters[0].TypedConfig.Unpack<HttpRbac>();
        var policy = Assert.Single(rbac.Rules.Policies).Value;
        Assert.Equal(RBAC.Types.Action.Allow, rbac.Rules.Action);
        Assert.Equal("spiffe://cluster.local/ns/default/sa/productpage", policy.Principals[0].Authenticated.PrincipalName.Exact);
        Assert.Equal("/reviews", policy.Permissions[0].AndRules.Rules[0].UrlPath.Path.Prefix);

        var rateLimit = hcm.HttpFilters[1].TypedConfig.Unpack<LocalRateLimit>();
        Assert.Equal(Envoy.Type.V3.StatusCode.TooManyRequests, rateLimit.Status.Code);
        Assert.Equal(10u, rateLimit.TokenBucket.TokensPerFill);

        var fault = hcm.HttpFilters[2].TypedConfig.Unpack<HTTPFault>();
        Assert.Equal(503u, fault.Abort.HttpStatus);
        Assert.Equal(10u, fault.MaxActiveFaults);

        Assert.Equal(TypeUrls.Router, hcm.HttpFilters[^1].TypedConfig.TypeUrl);
    }

    [Fact]
    public void Parse_TcpListenerJsonWithCamelCaseNames_ResolvesNetworkFilters()
    {
        var listener = XdsTypeRegistry.JsonParser.Parse<Listener>(TcpListener);

        Assert.False(listener.BindToPort);
        var filters = listener.DefaultFilterChain.Filters;
        var rbac = filters[0].TypedConfig.Unpack<NetworkRbac>();
        Assert.Equal(RBAC.Types.Action.Deny, rbac.Rules.Action);
        Assert.Equal(8u, rbac.Rules.Policies["deny-all"].Principals[0].NotId.RemoteIp.PrefixLen);
        var tcp = filters[1].TypedConfig.Unpack<TcpProxy>();
        Assert.Equal(TcpProxy.ClusterSpecifierOneofCase.WeightedClusters, tcp.ClusterSpecifierCase);
        Assert.Equal(100u, (uint)tcp.WeightedClusters.Clusters.Sum(c => c.Weight));
    }

    [Fact]
    public void Parse_StaticClusterJson_ResolvesProtocolOptionsAndTls()
    {
        var cluster = XdsTypeRegistry.JsonParser.Parse<Cluster>(StaticCluster);

        Assert.Equal(Cluster.Types.DiscoveryType.StrictDns, cluster.Type);
        Assert.Equal(15010u, cluster.LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.SocketAddress.PortValue);
        var options = cluster.TypedExtensionProtocolOptions[TypeUrls.HttpProtocolOptionsName].Unpack<UpstreamHttpProtocolOptions>();
        Assert.Equal(1000u, options.CommonHttpProtocolOptions.MaxRequestsPerConnection);
        var tls = cluster.TransportSocket.TypedConfig.Unpack<UpstreamTlsContext>();
        Assert.Equal("/etc/skein/root.pem", tls.CommonTlsContext.ValidationContext.TrustedCa.Filename);
        Assert.Equal(SubjectAltNameMatcher.Types.SanType.Uri, tls.CommonTlsContext.ValidationContext.MatchTypedSubjectAltNames[0].SanType);
        Assert.Equal(Envoy.Config.Core.V3.RoutingPriority.High, cluster.CircuitBreakers.Thresholds[0].Priority);
        Assert.Equal(300u, cluster.UpstreamConnectionOptions.TcpKeepalive.KeepaliveTime);
    }

    [Fact]
    public void Format_DiscoveryResponseWithAllTypes_ParsesBackEqual()
    {
        var response = new DiscoveryResponse
        {
            VersionInfo = "3",
            Nonce = "3",
            TypeUrl = TypeUrls.Cluster,
            Resources =
            {
                XdsAny.Pack(XdsSamples.ApiListener()),
                XdsAny.Pack(XdsSamples.Routes()),
                XdsAny.Pack(XdsSamples.EdsCluster()),
                XdsAny.Pack(XdsSamples.Endpoints()),
                XdsAny.Pack(XdsSamples.RootCa()),
            },
        };

        var json = XdsTypeRegistry.JsonFormatter.Format(response);
        var back = XdsTypeRegistry.JsonParser.Parse<DiscoveryResponse>(json);

        Assert.Contains("\"@type\": \"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\"", json, StringComparison.Ordinal);
        Assert.Contains("\"maxStreamDuration\": \"3s\"", json, StringComparison.Ordinal);
        Assert.Equal(response, back);
    }

    public static TheoryData<string> AllTypeUrls()
    {
        var data = new TheoryData<string>();
        foreach (var field in typeof(TypeUrls).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (field.IsLiteral && field.Name is not (nameof(TypeUrls.Prefix) or nameof(TypeUrls.HttpProtocolOptionsName)))
            {
                data.Add((string)field.GetRawConstantValue()!);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllTypeUrls))]
    public void Parse_AnyWithEachTypeUrl_IsResolvedByRegistry(string typeUrl)
    {
        var descriptor = XdsTypeRegistry.Instance.Find(TypeUrls.MessageName(typeUrl));
        Assert.NotNull(descriptor);

        var any = XdsTypeRegistry.JsonParser.Parse<Any>($$"""{ "@type": "{{typeUrl}}" }""");

        Assert.Equal(typeUrl, any.TypeUrl);
        Assert.Equal(typeUrl, XdsAny.Pack((IMessage)Activator.CreateInstance(descriptor.ClrType)!).TypeUrl);
    }

    [Fact]
    public void Instance_EveryGeneratedMessage_IsRegistered()
    {
        var messageTypes = typeof(TypeUrls).Assembly.GetTypes()
            .Where(t => t.IsClass && !t.IsAbstract && typeof(IMessage).IsAssignableFrom(t))
            .ToList();

        Assert.True(messageTypes.Count > 100, $"only {messageTypes.Count} message types found");
        foreach (var type in messageTypes)
        {
            var descriptor = ((IMessage)Activator.CreateInstance(type)!).Descriptor;
            Assert.True(XdsTypeRegistry.Instance.Find(descriptor.FullName) is not null, $"{descriptor.FullName} is not in the registry");
        }
    }

    [Fact]
    public void Parse_UnknownField_Throws()
    {
        Assert.Throws<InvalidProtocolBufferException>(() =>
            XdsTypeRegistry.JsonParser.Parse<Cluster>("""{ "name": "c", "no_such_field": 1 }"""));
    }
}
