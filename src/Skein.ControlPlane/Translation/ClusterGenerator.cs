using Google.Protobuf.WellKnownTypes;
using Skein.Api.Model;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using CoreHttpProtocolOptions = Skein.Xds.Envoy.Config.Core.V3.HttpProtocolOptions;
using HttpProtocolOptions = Skein.Xds.Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;
using XdsEndpoint = Skein.Xds.Envoy.Config.Endpoint.V3.Endpoint;
using XdsOutlierDetection = Skein.Xds.Envoy.Config.Cluster.V3.OutlierDetection;
using XdsTcpKeepalive = Skein.Xds.Envoy.Config.Core.V3.TcpKeepalive;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// CDS. For a sidecar: <c>outbound|port||host</c> for every service port plus one cluster per DestinationRule
/// subset (EDS over ADS; STRICT_DNS/LOGICAL_DNS or ORIGINAL_DST for ServiceEntries), with the DestinationRule's
/// traffic policy (subset and port-level settings merged as Istio merges them), <c>PassthroughCluster</c>,
/// <c>InboundPassthroughCluster</c>, and a STATIC <c>inbound|port||</c> to 127.0.0.1 per app port. For a
/// proxyless gRPC client only the outbound HTTP clusters, with the load balancers gRPC supports.
/// </summary>
internal static class ClusterGenerator
{
    private const uint Unlimited = uint.MaxValue;

    public static List<Cluster> Generate(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var clusters = Outbound(snapshot, proxy);
        clusters.AddRange(Inbound(snapshot, proxy));
        clusters.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return clusters;
    }

    /// <summary>Clusters for traffic leaving the proxy; they depend on the proxy's namespace and mode only.</summary>
    public static List<Cluster> Outbound(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var clusters = new List<Cluster>();
        foreach (var service in snapshot.Services)
        {
            OutboundFor(snapshot, proxy, service, clusters);
        }

        clusters.AddRange(OutboundShared(proxy));
        return clusters;
    }

    /// <summary>The outbound clusters of one service (the translation cache generates them service by service).</summary>
    public static void OutboundFor(MeshSnapshot snapshot, ResolvedProxy proxy, MeshService service, List<Cluster> clusters)
    {
        var proxyless = proxy.Mode == ProxyMode.Proxyless;
        if (proxyless && (service.Host.StartsWith('*') || service.Resolution == ServiceResolution.Passthrough))
        {
            return;
        }

        var rule = snapshot.DestinationRuleFor(service.Host, proxy.Namespace, service.Namespace);
        foreach (var port in service.Ports)
        {
            if (proxyless && !port.Protocol.IsHttp())
            {
                continue;
            }

            clusters.Add(Build(snapshot, proxy, service, port, rule, null));
            foreach (var subset in rule?.Spec?.Subsets ?? [])
            {
                if (subset.Name is not null)
                {
                    clusters.Add(Build(snapshot, proxy, service, port, rule, subset));
                }
            }
        }
    }

    /// <summary>Outbound clusters that belong to no service.</summary>
    public static List<Cluster> OutboundShared(ResolvedProxy proxy)
    {
        var clusters = new List<Cluster>();
        if (proxy.Mode != ProxyMode.Proxyless)
        {
            clusters.Add(new Cluster
            {
                Name = WellKnownNames.PassthroughCluster,
                Type = Cluster.Types.DiscoveryType.OriginalDst,
                LbPolicy = Cluster.Types.LbPolicy.ClusterProvided,
                ConnectTimeout = XdsBuild.Duration(WellKnownNames.DefaultConnectTimeout),
                CircuitBreakers = DefaultCircuitBreakers(),
                TypedExtensionProtocolOptions = { [TypeUrls.HttpProtocolOptionsName] = XdsAny.Pack(UseDownstreamProtocol(), TypeUrls.HttpProtocolOptions) },
            });
        }

        return clusters;
    }

    /// <summary>Clusters for traffic to the proxy's own app: one per app port, and a passthrough for the rest.</summary>
    public static List<Cluster> Inbound(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var clusters = new List<Cluster>();
        if (proxy.Mode == ProxyMode.Proxyless)
        {
            return clusters;
        }

        foreach (var port in proxy.AppPorts)
        {
            var name = ResourceNames.InboundCluster(port.Port);
            var cluster = new Cluster
            {
                Name = name,
                Type = Cluster.Types.DiscoveryType.Static,
                ConnectTimeout = XdsBuild.Duration(WellKnownNames.DefaultConnectTimeout),
                CircuitBreakers = DefaultCircuitBreakers(),
                LoadAssignment = new ClusterLoadAssignment
                {
                    ClusterName = name,
                    Endpoints =
                    {
                        new LocalityLbEndpoints
                        {
                            LbEndpoints = { new LbEndpoint { Endpoint = new XdsEndpoint { Address = XdsBuild.SocketAddress("127.0.0.1", port.Port) } } },
                        },
                    },
                },
                Metadata = XdsBuild.Metadata("istio",
                [
                    KeyValuePair.Create("workload", proxy.WorkloadName ?? ""),
                    KeyValuePair.Create("namespace", proxy.Namespace),
                    KeyValuePair.Create("port", XdsBuild.Port(port.Port)),
                ]),
            };
            if (ProtocolOptions(port.Protocol) is { } options)
            {
                cluster.TypedExtensionProtocolOptions[TypeUrls.HttpProtocolOptionsName] = XdsAny.Pack(options, TypeUrls.HttpProtocolOptions);
            }

            clusters.Add(cluster);
        }

        clusters.Add(new Cluster
        {
            Name = WellKnownNames.InboundPassthroughCluster,
            Type = Cluster.Types.DiscoveryType.OriginalDst,
            LbPolicy = Cluster.Types.LbPolicy.ClusterProvided,
            ConnectTimeout = XdsBuild.Duration(WellKnownNames.DefaultConnectTimeout),
            CircuitBreakers = DefaultCircuitBreakers(),
            TypedExtensionProtocolOptions = { [TypeUrls.HttpProtocolOptionsName] = XdsAny.Pack(UseDownstreamProtocol(), TypeUrls.HttpProtocolOptions) },
        });
        return clusters;
    }

    private static Cluster Build(MeshSnapshot snapshot, ResolvedProxy proxy, MeshService service, MeshServicePort port, DestinationRule? rule, Subset? subset)
    {
        var proxyless = proxy.Mode == ProxyMode.Proxyless;
        var name = ResourceNames.OutboundCluster(port.Port, subset?.Name, service.Host);
        var policy = Policies.Effective(rule, subset?.Name, port.Port);
        var cluster = new Cluster
        {
            Name = name,
            ConnectTimeout = XdsBuild.Duration(WellKnownNames.DefaultConnectTimeout),
            LbPolicy = proxyless ? Cluster.Types.LbPolicy.RoundRobin : Cluster.Types.LbPolicy.LeastRequest,
            CircuitBreakers = DefaultCircuitBreakers(),
        };

        switch (service.Resolution)
        {
            case ServiceResolution.Static:
                cluster.Type = Cluster.Types.DiscoveryType.Eds;
                cluster.EdsClusterConfig = new Cluster.Types.EdsClusterConfig { EdsConfig = XdsBuild.Ads(), ServiceName = name };
                break;
            case ServiceResolution.Dns or ServiceResolution.DnsRoundRobin:
                var logical = proxyless || service.Resolution == ServiceResolution.DnsRoundRobin;
                cluster.Type = logical ? Cluster.Types.DiscoveryType.LogicalDns : Cluster.Types.DiscoveryType.StrictDns;
                cluster.DnsLookupFamily = Cluster.Types.DnsLookupFamily.V4Only;
                var endpoints = EndpointGenerator.InSubset(service, subset);
                cluster.LoadAssignment = EndpointGenerator.Assignment(name, logical ? endpoints.Take(1) : endpoints, port.Port, loopback: false, dns: true);
                break;
            default:
                cluster.Type = Cluster.Types.DiscoveryType.OriginalDst;
                cluster.LbPolicy = Cluster.Types.LbPolicy.ClusterProvided;
                break;
        }

        if (!proxyless)
        {
            var metadata = new List<KeyValuePair<string, string>>
            {
                KeyValuePair.Create("host", service.Host),
                KeyValuePair.Create("name", service.Name),
                KeyValuePair.Create("namespace", service.Namespace),
            };
            if (subset?.Name is { } subsetName)
            {
                metadata.Add(KeyValuePair.Create("subset", subsetName));
            }

            cluster.Metadata = XdsBuild.Metadata("istio", metadata);
        }

        var options = proxyless ? null : ProtocolOptions(port.Protocol);
        if (policy?.ConnectionPool is { } pool)
        {
            ApplyConnectionPool(cluster, pool, port.Protocol, proxyless, ref options);
        }

        if (policy?.LoadBalancer is { } lb)
        {
            ApplyLoadBalancer(cluster, lb, proxyless);
        }

        if (policy?.OutlierDetection is { } outlier)
        {
            ApplyOutlierDetection(cluster, outlier);
        }

        // Istio's applyLocalityLoadBalancer: locality weights matter with distribute, and with failover settings
        // once outlier detection can move traffic (EDS carries the priorities and weights themselves).
        if (!proxyless && policy?.LoadBalancer?.LocalityLbSetting is { Enabled: not false } locality
            && (locality.Distribute is { Count: > 0 }
                || (cluster.OutlierDetection is not null && (locality.Failover is { Count: > 0 } || locality.FailoverPriority is { Count: > 0 }))))
        {
            cluster.CommonLbConfig ??= new Cluster.Types.CommonLbConfig();
            cluster.CommonLbConfig.LocalityWeightedLbConfig = new Cluster.Types.CommonLbConfig.Types.LocalityWeightedLbConfig();
        }

        if (policy?.RetryBudget is { } budget)
        {
            cluster.CircuitBreakers.Thresholds[0].RetryBudget = RetryBudget(budget.Percent ?? 20, (uint)(budget.MinRetryConcurrency ?? 3));
        }
        else if (policy?.ConnectionPool?.Http?.MaxRetries is not > 0)
        {
            // Istio leaves retries unbounded; Skein bounds them by default so that retries cannot turn a brown-out into
            // an outage: Envoy's suggested budget, 20% of the active requests with at least 3 retries at once. A
            // DestinationRule's maxRetries or retryBudget replaces it.
            cluster.CircuitBreakers.Thresholds[0].RetryBudget = RetryBudget(20, 3);
        }

        if (!proxyless && UpstreamTls(snapshot, service, port, subset, policy?.Tls) is { } tls)
        {
            cluster.TransportSocket = new TransportSocket { Name = FilterNames.TlsTransportSocket, TypedConfig = XdsAny.Pack(tls, TypeUrls.UpstreamTlsContext) };
        }

        if (options is not null && port.Protocol.IsHttp())
        {
            cluster.TypedExtensionProtocolOptions[TypeUrls.HttpProtocolOptionsName] = XdsAny.Pack(options, TypeUrls.HttpProtocolOptions);
        }

        return cluster;
    }

    /// <summary>Istio's default thresholds: effectively unlimited, with remaining capacity tracked.</summary>
    private static CircuitBreakers DefaultCircuitBreakers() => new()
    {
        Thresholds =
        {
            new CircuitBreakers.Types.Thresholds
            {
                MaxConnections = Unlimited,
                MaxPendingRequests = Unlimited,
                MaxRequests = Unlimited,
                MaxRetries = Unlimited,
                TrackRemaining = true,
            },
        },
    };

    /// <summary>HTTP/2 upstream for http2/grpc ports, the client's protocol for ports without a declared protocol.</summary>
    private static HttpProtocolOptions? ProtocolOptions(PortProtocol protocol) => protocol switch
    {
        PortProtocol.Http2 or PortProtocol.Grpc => Http2Options(),
        PortProtocol.Unknown => UseDownstreamProtocol(),
        _ => null,
    };

    private static HttpProtocolOptions Http2Options() => new()
    {
        ExplicitHttpConfig = new HttpProtocolOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() },
    };

    private static HttpProtocolOptions UseDownstreamProtocol() => new()
    {
        UseDownstreamProtocolConfig = new HttpProtocolOptions.Types.UseDownstreamHttpConfig
        {
            HttpProtocolOptions = new Http1ProtocolOptions(),
            Http2ProtocolOptions = new Http2ProtocolOptions(),
        },
    };

    /// <summary>Istio's applyConnectionPool: circuit breaker thresholds, connect timeout, keepalive and HTTP pool options.</summary>
    private static void ApplyConnectionPool(Cluster cluster, ConnectionPoolSettings pool, PortProtocol protocol, bool proxyless, ref HttpProtocolOptions? options)
    {
        var threshold = cluster.CircuitBreakers.Thresholds[0];
        TimeSpan? idleTimeout = null;
        TimeSpan? maxConnectionDuration = null;
        uint maxRequestsPerConnection = 0;
        uint maxConcurrentStreams = 0;

        if (pool.Http is { } http)
        {
            if (http.Http2MaxRequests is > 0 and var maxRequests)
            {
                threshold.MaxRequests = (uint)maxRequests;
            }

            if (http.Http1MaxPendingRequests is > 0 and var pending)
            {
                threshold.MaxPendingRequests = (uint)pending;
            }

            if (http.MaxRetries is > 0 and var retries)
            {
                threshold.MaxRetries = (uint)retries;
            }

            idleTimeout = http.IdleTimeout?.Value;
            maxRequestsPerConnection = (uint)(http.MaxRequestsPerConnection ?? 0);
            maxConcurrentStreams = (uint)(http.MaxConcurrentStreams ?? 0);
        }

        if (pool.Tcp is { } tcp)
        {
            if (tcp.ConnectTimeout is { } connect)
            {
                cluster.ConnectTimeout = XdsBuild.Duration(connect);
            }

            if (tcp.MaxConnections is > 0 and var maxConnections)
            {
                threshold.MaxConnections = (uint)maxConnections;
            }

            maxConnectionDuration = tcp.MaxConnectionDuration?.Value;
            idleTimeout ??= tcp.IdleTimeout?.Value;
            if (tcp.TcpKeepalive is { } keepalive && !proxyless)
            {
                cluster.UpstreamConnectionOptions = new UpstreamConnectionOptions
                {
                    TcpKeepalive = new XdsTcpKeepalive
                    {
                        KeepaliveProbes = keepalive.Probes is { } probes ? (uint)probes : null,
                        KeepaliveTime = keepalive.Time is { } time ? (uint)Math.Max(1, time.Value.TotalSeconds) : null,
                        KeepaliveInterval = keepalive.Interval is { } interval ? (uint)Math.Max(1, interval.Value.TotalSeconds) : null,
                    },
                };
            }
        }

        if (proxyless || !protocol.IsHttp())
        {
            return;
        }

        if (pool.Http?.UseClientProtocol == true)
        {
            options = UseDownstreamProtocol();
        }
        else if (pool.Http?.H2UpgradePolicy == H2UpgradePolicy.Upgrade && protocol is PortProtocol.Http or PortProtocol.Unknown)
        {
            options = Http2Options();
        }

        if (idleTimeout is not null || maxConnectionDuration is not null || maxRequestsPerConnection > 0 || maxConcurrentStreams > 0)
        {
            options ??= new HttpProtocolOptions
            {
                ExplicitHttpConfig = new HttpProtocolOptions.Types.ExplicitHttpConfig { HttpProtocolOptions = new Http1ProtocolOptions() },
            };
            var common = options.CommonHttpProtocolOptions ??= new CoreHttpProtocolOptions();
            if (idleTimeout is { } idle)
            {
                common.IdleTimeout = XdsBuild.Duration(idle);
            }

            if (maxRequestsPerConnection > 0)
            {
                common.MaxRequestsPerConnection = maxRequestsPerConnection;
            }

            if (maxConnectionDuration is { } duration)
            {
                common.MaxConnectionDuration = XdsBuild.Duration(duration);
            }

            var h2 = options.ExplicitHttpConfig?.Http2ProtocolOptions ?? options.UseDownstreamProtocolConfig?.Http2ProtocolOptions;
            if (h2 is not null && maxConcurrentStreams > 0)
            {
                h2.MaxConcurrentStreams = maxConcurrentStreams;
            }
        }
    }

    /// <summary>Istio's applyLoadBalancer and ApplyRingHashLoadBalancer; gRPC clients get ROUND_ROBIN or RING_HASH only.</summary>
    private static void ApplyLoadBalancer(Cluster cluster, LoadBalancerSettings lb, bool proxyless)
    {
        if (cluster.Type == Cluster.Types.DiscoveryType.OriginalDst)
        {
            return;
        }

        switch (lb.Simple)
        {
            case SimpleLb.RoundRobin:
                cluster.LbPolicy = Cluster.Types.LbPolicy.RoundRobin;
                break;
            case SimpleLb.Random:
                cluster.LbPolicy = proxyless ? Cluster.Types.LbPolicy.RoundRobin : Cluster.Types.LbPolicy.Random;
                break;
            case SimpleLb.Passthrough when !proxyless:
                cluster.Type = Cluster.Types.DiscoveryType.OriginalDst;
                cluster.LbPolicy = Cluster.Types.LbPolicy.ClusterProvided;
                cluster.EdsClusterConfig = null;
                cluster.LoadAssignment = null;
                return;
            default:
                cluster.LbPolicy = proxyless ? Cluster.Types.LbPolicy.RoundRobin : Cluster.Types.LbPolicy.LeastRequest;
                break;
        }

        if (lb.ConsistentHash is not { } hash)
        {
            return;
        }

        if (hash.Maglev is { } maglev && !proxyless)
        {
            cluster.LbPolicy = Cluster.Types.LbPolicy.Maglev;
            if (maglev.TableSize is > 0 and var size)
            {
                cluster.MaglevLbConfig = new Cluster.Types.MaglevLbConfig { TableSize = (ulong)size };
            }
        }
        else
        {
            cluster.LbPolicy = Cluster.Types.LbPolicy.RingHash;
            var minimum = hash.RingHash?.MinimumRingSize ?? (hash.MinimumRingSize is > 0 and var deprecated ? deprecated : 1024);
            cluster.RingHashLbConfig = new Cluster.Types.RingHashLbConfig
            {
                MinimumRingSize = minimum > 0 ? (ulong)minimum : null,
                HashFunction = Cluster.Types.RingHashLbConfig.Types.HashFunction.XxHash,
            };
        }
    }

    /// <summary>Istio's applyOutlierDetection (success-rate ejection off; panic threshold from minHealthPercent).</summary>
    private static void ApplyOutlierDetection(Cluster cluster, Skein.Api.Model.OutlierDetection outlier)
    {
        var o = new XdsOutlierDetection { EnforcingSuccessRate = 0 };
        if (outlier.ConsecutiveErrors is > 0 and var legacy)
        {
            // Deprecated consecutiveErrors counts gateway errors only (istio/api#617).
            o.EnforcingConsecutiveGatewayFailure = 100;
            o.EnforcingConsecutive5Xx = 0;
            o.ConsecutiveGatewayFailure = (uint)legacy;
        }

        if (outlier.Consecutive5xxErrors is { } fiveXx)
        {
            o.Consecutive5Xx = (uint)fiveXx;
            o.EnforcingConsecutive5Xx = fiveXx > 0 ? 100u : 0u;
        }

        if (outlier.ConsecutiveGatewayErrors is { } gateway)
        {
            o.ConsecutiveGatewayFailure = (uint)gateway;
            o.EnforcingConsecutiveGatewayFailure = gateway > 0 ? 100u : 0u;
        }

        if (outlier.Interval is { } interval)
        {
            o.Interval = XdsBuild.Duration(interval);
        }

        if (outlier.BaseEjectionTime is { } ejection)
        {
            o.BaseEjectionTime = XdsBuild.Duration(ejection);
        }

        if (outlier.MaxEjectionPercent is > 0 and var maxPercent)
        {
            o.MaxEjectionPercent = (uint)maxPercent;
        }

        if (outlier.SplitExternalLocalOriginErrors == true)
        {
            o.SplitExternalLocalOriginErrors = true;
            if (outlier.ConsecutiveLocalOriginFailures is > 0 and var local)
            {
                o.ConsecutiveLocalOriginFailure = (uint)local;
                o.EnforcingConsecutiveLocalOriginFailure = 100;
            }

            o.EnforcingLocalOriginSuccessRate = 0;
        }

        cluster.OutlierDetection = o;
        cluster.CommonLbConfig ??= new Cluster.Types.CommonLbConfig();
        cluster.CommonLbConfig.HealthyPanicThreshold = new Skein.Xds.Envoy.Type.V3.Percent { Value = outlier.MinHealthPercent ?? 0 };
    }

    private static CircuitBreakers.Types.Thresholds.Types.RetryBudget RetryBudget(double percent, uint minConcurrency) => new()
    {
        BudgetPercent = new Skein.Xds.Envoy.Type.V3.Percent { Value = percent },
        MinRetryConcurrency = minConcurrency,
    };

    /// <summary>
    /// The cluster's TLS: the DestinationRule's mode, else (with <c>--mtls</c>) ISTIO_MUTUAL when every endpoint
    /// runs a sidecar whose PeerAuthentication does not disable mTLS (Istio's auto mTLS, per cluster).
    /// </summary>
    private static UpstreamTlsContext? UpstreamTls(MeshSnapshot snapshot, MeshService service, MeshServicePort port, Subset? subset, ClientTlsSettings? tls)
    {
        var endpoints = EndpointGenerator.InSubset(service, subset).ToList();
        var mode = tls?.Mode;
        if (mode is null)
        {
            var auto = snapshot.Settings.Mtls
                && endpoints.Count > 0
                && endpoints.All(e => e.Instance.HasSidecar && e.Ports.TryGetValue(port.Port, out var target)
                    && Policies.InboundMtlsMode(snapshot, e.Instance.Namespace, e.Labels, target) != MtlsMode.Disable);
            if (!auto)
            {
                return null;
            }

            mode = ClientTlsMode.IstioMutual;
        }

        switch (mode)
        {
            case ClientTlsMode.IstioMutual:
            {
                var validation = new CertificateValidationContext();
                var accounts = endpoints.Select(e => $"spiffe://{snapshot.Settings.TrustDomain}/ns/{e.Instance.Namespace}/sa/{e.Instance.ServiceAccount}")
                    .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
                if (accounts.Count == 0)
                {
                    validation.MatchTypedSubjectAltNames.Add(San(SubjectAltNameMatcher.Types.SanType.Uri, new StringMatcher { Prefix = $"spiffe://{snapshot.Settings.TrustDomain}/" }));
                }

                foreach (var account in accounts)
                {
                    validation.MatchTypedSubjectAltNames.Add(San(SubjectAltNameMatcher.Types.SanType.Uri, new StringMatcher { Exact = account }));
                }

                var common = new CommonTlsContext
                {
                    TlsParams = new TlsParameters { TlsMinimumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv13 },
                    TlsCertificateSdsSecretConfigs = { Sds(WellKnownNames.DefaultSecret) },
                    CombinedValidationContext = new CommonTlsContext.Types.CombinedCertificateValidationContext
                    {
                        DefaultValidationContext = validation,
                        ValidationContextSdsSecretConfig = Sds(WellKnownNames.RootCaSecret),
                    },
                };
                common.AlpnProtocols.AddRange(port.Protocol switch
                {
                    PortProtocol.Http2 or PortProtocol.Grpc => ["h2"],
                    PortProtocol.Http or PortProtocol.GrpcWeb => ["http/1.1"],
                    PortProtocol.Unknown => ["h2", "http/1.1"],
                    _ => [],
                });
                return new UpstreamTlsContext
                {
                    Sni = $"outbound_.{port.Port}_.{subset?.Name}_.{service.Host}",
                    CommonTlsContext = common,
                };
            }

            case ClientTlsMode.Simple or ClientTlsMode.Mutual:
            {
                var common = new CommonTlsContext();
                if (tls!.InsecureSkipVerify != true)
                {
                    var validation = new CertificateValidationContext
                    {
                        TrustedCa = new DataSource { Filename = tls.CaCertificates ?? "/etc/ssl/certs/ca-certificates.crt" },
                    };
                    foreach (var san in tls.SubjectAltNames ?? [])
                    {
                        validation.MatchTypedSubjectAltNames.Add(San(
                            san.Contains("://", StringComparison.Ordinal) ? SubjectAltNameMatcher.Types.SanType.Uri : SubjectAltNameMatcher.Types.SanType.Dns,
                            new StringMatcher { Exact = san }));
                    }

                    common.ValidationContext = validation;
                }

                if (mode == ClientTlsMode.Mutual && tls.ClientCertificate is not null && tls.PrivateKey is not null)
                {
                    common.TlsCertificates.Add(new TlsCertificate
                    {
                        CertificateChain = new DataSource { Filename = tls.ClientCertificate },
                        PrivateKey = new DataSource { Filename = tls.PrivateKey },
                    });
                }

                return new UpstreamTlsContext
                {
                    Sni = tls.Sni ?? (service.Kind == ServiceKind.ServiceEntry && !service.Host.StartsWith('*') ? service.Host : ""),
                    CommonTlsContext = common,
                };
            }

            default:
                return null;
        }
    }

    private static SubjectAltNameMatcher San(SubjectAltNameMatcher.Types.SanType type, StringMatcher matcher) => new() { SanType = type, Matcher = matcher };

    internal static SdsSecretConfig Sds(string name) => new() { Name = name, SdsConfig = XdsBuild.Ads() };
}
