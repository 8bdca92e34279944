using Skein.Api.Model;
using Skein.Api.Naming;
using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.LocalRatelimit.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Router.V3;
using Skein.Xds.Envoy.Extensions.Filters.Listener.OriginalDst.V3;
using Skein.Xds.Envoy.Extensions.Filters.Listener.TlsInspector.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.TcpProxy.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using Skein.Xds.Envoy.Type.V3;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// LDS, following the contract in docs/architecture.md. For a sidecar: <c>virtualOutbound</c> (15001,
/// original destination, default chain to <c>PassthroughCluster</c>); a <c>0.0.0.0_&lt;port&gt;</c> listener
/// per service port (not bound) whose HTTP chain uses RDS <c>"&lt;port&gt;"</c> and whose TCP services get a
/// <c>tcp_proxy</c> chain matched on their VIP; and <c>virtualInbound</c> (15006) with a chain per app port
/// matched on <c>destination_port</c>, carrying an inline route config <c>inbound|&lt;port&gt;||</c> (with the
/// local rate limits that apply) or a <c>tcp_proxy</c>, TLS chains beside them when mTLS is on. For a
/// proxyless gRPC client: an API listener per name a target can use (<c>reviews:9080</c>, FQDN, VIP…).
/// </summary>
internal static class ListenerGenerator
{
    private const string RateLimitStatPrefix = "http_local_rate_limiter";

    public static List<Listener> Generate(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        if (proxy.Mode == ProxyMode.Proxyless)
        {
            return Proxyless(snapshot, proxy);
        }

        var listeners = SidecarOutbound(snapshot, proxy);
        listeners.Add(VirtualInbound(snapshot, proxy));
        listeners.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return listeners;
    }

    /// <summary>A sidecar's outbound listeners (they depend on its namespace and the labels routes read, not on its ports).</summary>
    internal static List<Listener> SidecarOutbound(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var listeners = Outbound(snapshot, proxy);
        listeners.Add(VirtualOutbound());
        return listeners;
    }

    /// <summary>A sidecar's <c>virtualInbound</c> listener (it depends on the proxy's whole shape).</summary>
    internal static Listener SidecarInbound(MeshSnapshot snapshot, ResolvedProxy proxy) => VirtualInbound(snapshot, proxy);

    private static List<Listener> Outbound(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var byPort = new SortedDictionary<int, List<(MeshService Service, MeshServicePort Port)>>();
        foreach (var service in snapshot.Services)
        {
            foreach (var port in service.Ports)
            {
                if (!byPort.TryGetValue(port.Port, out var list))
                {
                    byPort[port.Port] = list = [];
                }

                list.Add((service, port));
            }
        }

        var listeners = new List<Listener>();
        foreach (var (port, services) in byPort)
        {
            var listener = new Listener
            {
                Name = ResourceNames.Listener(port),
                Address = XdsBuild.SocketAddress(ResourceNames.WildcardAddress, port),
                BindToPort = false,
                TrafficDirection = TrafficDirection.Outbound,
            };
            var hasHttp = services.Any(s => s.Port.Protocol.IsHttp());
            var tcp = services.Where(s => !s.Port.Protocol.IsHttp()).ToList();
            foreach (var (service, _) in tcp)
            {
                var chain = new FilterChain { Filters = { TcpProxyFilter(TcpProxyFor(snapshot, proxy, service, port)) } };
                if (service.Vip is { } vip)
                {
                    chain.Name = $"{vip}_{port}";
                    chain.FilterChainMatch = new FilterChainMatch { PrefixRanges = { new CidrRange { AddressPrefix = vip, PrefixLen = 32 } } };
                }
                else if (hasHttp || tcp.Count > 1)
                {
                    continue; // without a VIP a TCP service cannot be told apart from the others on this port
                }
                else
                {
                    chain.Name = $"{ResourceNames.WildcardAddress}_{port}";
                }

                listener.FilterChains.Add(chain);
            }

            if (hasHttp)
            {
                listener.FilterChains.Add(new FilterChain
                {
                    Name = $"{ResourceNames.WildcardAddress}_{port}",
                    Filters = { HcmFilter(OutboundHcm(port)) },
                });
            }
            else
            {
                listener.DefaultFilterChain = PassthroughChain();
            }

            listeners.Add(listener);
        }

        return listeners;
    }

    /// <summary>The TCP proxy for a TCP service: the first applicable VirtualService TCP route, else the service's cluster.</summary>
    private static TcpProxy TcpProxyFor(MeshSnapshot snapshot, ResolvedProxy proxy, MeshService service, int port)
    {
        var cluster = ResourceNames.OutboundCluster(port, null, service.Host);
        var vs = snapshot.VirtualServiceFor(service.Host);
        foreach (var route in vs?.Spec?.Tcp ?? [])
        {
            var applies = route.Match is not { Count: > 0 } || route.Match.Any(m =>
                (m.Port is null || m.Port == port)
                && (m.SourceLabels is null || MeshConventions.Selects(m.SourceLabels, proxy.Labels))
                && (m.SourceNamespace is null || m.SourceNamespace == proxy.Namespace)
                && (m.Gateways is not { Count: > 0 } || m.Gateways.Contains("mesh")));
            var destinations = (route.Route ?? []).Where(d => d.Destination is not null).ToList();
            if (!applies || destinations.Count == 0)
            {
                continue;
            }

            if (destinations.Count > 1)
            {
                destinations = destinations.Where(d => d.Weight is not 0).ToList();
            }

            if (destinations.Count == 1)
            {
                var name = HttpRouteTranslator.ClusterFor(snapshot, vs!, destinations[0].Destination!, port);
                return new TcpProxy { StatPrefix = name, Cluster = name };
            }

            var weights = XdsBuild.Normalize([.. destinations.Select(d => (long)(d.Weight ?? 0))]);
            var weighted = new TcpProxy.Types.WeightedCluster();
            for (var i = 0; i < destinations.Count; i++)
            {
                weighted.Clusters.Add(new TcpProxy.Types.WeightedCluster.Types.ClusterWeight
                {
                    Name = HttpRouteTranslator.ClusterFor(snapshot, vs!, destinations[i].Destination!, port),
                    Weight = weights[i],
                });
            }

            return new TcpProxy { StatPrefix = cluster, WeightedClusters = weighted };
        }

        return new TcpProxy { StatPrefix = cluster, Cluster = cluster };
    }

    private static Listener VirtualOutbound() => new()
    {
        Name = ResourceNames.VirtualOutbound,
        Address = XdsBuild.SocketAddress(ResourceNames.WildcardAddress, WellKnownNames.OutboundCapturePort),
        UseOriginalDst = true,
        TrafficDirection = TrafficDirection.Outbound,
        DefaultFilterChain = PassthroughChain(),
    };

    private static FilterChain PassthroughChain() => new()
    {
        Name = "PassthroughFilterChain",
        Filters = { TcpProxyFilter(new TcpProxy { StatPrefix = WellKnownNames.PassthroughCluster, Cluster = WellKnownNames.PassthroughCluster }) },
    };

    private static Listener VirtualInbound(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var mtls = snapshot.Settings.Mtls;
        var listener = new Listener
        {
            Name = ResourceNames.VirtualInbound,
            Address = XdsBuild.SocketAddress(ResourceNames.WildcardAddress, WellKnownNames.InboundCapturePort),
            UseOriginalDst = true,
            TrafficDirection = TrafficDirection.Inbound,
            ListenerFilters = { new ListenerFilter { Name = FilterNames.OriginalDst, TypedConfig = XdsAny.Pack(new OriginalDst(), TypeUrls.OriginalDst) } },
            DefaultFilterChain = new FilterChain
            {
                Name = "InboundPassthroughFilterChain",
                Filters = { TcpProxyFilter(new TcpProxy { StatPrefix = WellKnownNames.InboundPassthroughCluster, Cluster = WellKnownNames.InboundPassthroughCluster }) },
            },
        };
        if (mtls)
        {
            listener.ListenerFilters.Add(new ListenerFilter { Name = FilterNames.TlsInspector, TypedConfig = XdsAny.Pack(new TlsInspector(), TypeUrls.TlsInspector) });
        }

        foreach (var port in proxy.AppPorts)
        {
            var cluster = ResourceNames.InboundCluster(port.Port);
            var filter = port.Protocol.IsHttp()
                ? HcmFilter(InboundHcm(snapshot, proxy, port.Port))
                : TcpProxyFilter(new TcpProxy { StatPrefix = cluster, Cluster = cluster });
            var name = $"{ResourceNames.WildcardAddress}_{port.Port}";
            var mode = mtls ? Policies.InboundMtlsMode(snapshot, proxy.Namespace, proxy.Labels, port.Port) : MtlsMode.Disable;
            if (mode is MtlsMode.Strict or MtlsMode.Permissive)
            {
                listener.FilterChains.Add(new FilterChain
                {
                    Name = name,
                    FilterChainMatch = new FilterChainMatch { DestinationPort = (uint)port.Port, TransportProtocol = "tls" },
                    Filters = { filter },
                    TransportSocket = new TransportSocket
                    {
                        Name = FilterNames.TlsTransportSocket,
                        TypedConfig = XdsAny.Pack(MtlsTranslation.DownstreamTls(snapshot, port.Protocol), TypeUrls.DownstreamTlsContext),
                    },
                });
            }

            if (mode == MtlsMode.Permissive)
            {
                listener.FilterChains.Add(new FilterChain
                {
                    Name = name,
                    FilterChainMatch = new FilterChainMatch { DestinationPort = (uint)port.Port, TransportProtocol = "raw_buffer" },
                    Filters = { filter },
                });
            }
            else if (mode == MtlsMode.Disable)
            {
                listener.FilterChains.Add(new FilterChain
                {
                    Name = name,
                    FilterChainMatch = new FilterChainMatch { DestinationPort = (uint)port.Port },
                    Filters = { filter },
                });
            }
        }

        if (mtls)
        {
            MtlsTranslation.SecurePassthrough(snapshot, proxy, listener); // undeclared ports follow PeerAuthentication too
        }

        AuthorizationGenerator.AddNetworkFilters(snapshot, proxy, listener);
        return listener;
    }

    private static HttpConnectionManager OutboundHcm(int port)
    {
        var hcm = new HttpConnectionManager
        {
            StatPrefix = $"outbound_{ResourceNames.WildcardAddress}_{port}",
            Rds = new Rds { ConfigSource = XdsBuild.Ads(), RouteConfigName = ResourceNames.RouteConfig(port) },
            HttpFilters = { FaultFilter(), RouterFilter() },
            UseRemoteAddress = false,
            NormalizePath = true,
            UpgradeConfigs = { new HttpConnectionManager.Types.UpgradeConfig { UpgradeType = "websocket" } },
        };
        return hcm;
    }

    private static HttpConnectionManager InboundHcm(MeshSnapshot snapshot, ResolvedProxy proxy, int port)
    {
        var routes = InboundRoutes(snapshot, proxy, port, out var rateLimited);
        var hcm = new HttpConnectionManager
        {
            StatPrefix = $"inbound_{ResourceNames.WildcardAddress}_{port}",
            RouteConfig = routes,
            UseRemoteAddress = false,
            NormalizePath = true,
            UpgradeConfigs = { new HttpConnectionManager.Types.UpgradeConfig { UpgradeType = "websocket" } },
        };
        hcm.HttpFilters.AddRange(AuthorizationGenerator.HttpFilters(snapshot, proxy));
        if (rateLimited)
        {
            hcm.HttpFilters.Add(new HttpFilter
            {
                Name = FilterNames.LocalRateLimit,
                TypedConfig = XdsAny.Pack(new LocalRateLimit { StatPrefix = RateLimitStatPrefix }, TypeUrls.LocalRateLimit),
            });
        }

        hcm.HttpFilters.Add(RouterFilter());
        return hcm;
    }

    /// <summary>
    /// The inline route config of an inbound HTTP port: a route per RateLimit match (most specific limits first)
    /// carrying its token bucket, then the default route (with the first RateLimit that has no match, if any).
    /// </summary>
    internal static RouteConfiguration InboundRoutes(MeshSnapshot snapshot, ResolvedProxy proxy, int port, out bool rateLimited)
    {
        var cluster = ResourceNames.InboundCluster(port);
        RouteAction Action()
        {
            return new RouteAction
            {
                Cluster = cluster,
                Timeout = XdsBuild.Zero,
                MaxStreamDuration = new RouteAction.Types.MaxStreamDuration { MaxStreamDuration_ = XdsBuild.Zero, GrpcTimeoutHeaderMax = XdsBuild.Zero },
            };
        }

        var vh = new VirtualHost { Name = $"inbound|http|{port}", Domains = { "*" } };
        RateLimit? catchAll = null;
        rateLimited = false;
        foreach (var (limit, servicePorts) in RateLimitsFor(snapshot, proxy, port))
        {
            if (limit.Spec!.Match is not { Count: > 0 } matches)
            {
                catchAll ??= limit;
                continue;
            }

            var bucket = XdsAny.Pack(Bucket(limit), TypeUrls.LocalRateLimit);
            foreach (var m in matches)
            {
                if (m.Port is { } p && !servicePorts.Contains(p))
                {
                    continue;
                }

                var route = new Route { Name = $"ratelimit.{limit.Namespace}.{limit.Name}", Match = HttpRouteTranslator.TranslateMatch(m), Route_ = Action() };
                route.TypedPerFilterConfig[FilterNames.LocalRateLimit] = bucket;
                vh.Routes.Add(route);
                rateLimited = true;
            }
        }

        var fallback = new Route { Name = "default", Match = new RouteMatch { Prefix = "/" }, Route_ = Action() };
        if (catchAll is not null)
        {
            fallback.TypedPerFilterConfig[FilterNames.LocalRateLimit] = XdsAny.Pack(Bucket(catchAll), TypeUrls.LocalRateLimit);
            rateLimited = true;
        }

        vh.Routes.Add(fallback);
        return new RouteConfiguration { Name = ResourceNames.InboundRouteConfig(port), VirtualHosts = { vh }, ValidateClusters = false };
    }

    /// <summary>
    /// The RateLimits this proxy enforces on an app port, with the service ports that reach it: those whose
    /// selector picks this workload, else those whose service's workloads include it (the destination enforces).
    /// </summary>
    private static List<(RateLimit Limit, HashSet<int> ServicePorts)> RateLimitsFor(MeshSnapshot snapshot, ResolvedProxy proxy, int appPort)
    {
        var result = new List<(RateLimit, HashSet<int>)>();
        foreach (var limit in snapshot.RateLimits)
        {
            var spec = limit.Spec!;
            var services = new List<MeshService>();
            if (spec.Service is { } host && snapshot.ServicesByHost.TryGetValue(MeshConventions.Qualify(host, limit.Namespace), out var byHost))
            {
                services.Add(byHost);
            }
            else if (spec.TargetRef is { Name: { } target } targetRef)
            {
                if (targetRef.Kind == "Service" && snapshot.ServicesByHost.TryGetValue(MeshConventions.ServiceHost(target, limit.Namespace), out var svc))
                {
                    services.Add(svc);
                }
                else if (targetRef.Kind == "ServiceEntry")
                {
                    var entry = snapshot.Config.Resources.OfType<ServiceEntry>().FirstOrDefault(e => e.Name == target && e.Namespace == limit.Namespace);
                    foreach (var h in entry?.Spec?.Hosts ?? [])
                    {
                        if (snapshot.ServicesByHost.TryGetValue(h, out var s))
                        {
                            services.Add(s);
                        }
                    }
                }
            }

            bool enforces;
            if (spec.Selector?.MatchLabels is { } selector)
            {
                enforces = limit.Namespace == proxy.Namespace && MeshConventions.Selects(selector, proxy.Labels);
            }
            else
            {
                enforces = services.Any(s => s.Namespace == proxy.Namespace && s.Selector is not null && MeshConventions.Selects(s.Selector, proxy.Labels));
            }

            if (!enforces)
            {
                continue;
            }

            var servicePorts = new HashSet<int>();
            var anyPorts = false;
            foreach (var service in services)
            {
                foreach (var sp in service.Ports)
                {
                    anyPorts = true;
                    int? target = sp.TargetPort switch
                    {
                        { Number: { } n } => n,
                        { Name: { } name } => proxy.AppPorts.FirstOrDefault(a => a.Name == name)?.Port,
                        _ => sp.Port,
                    };
                    if (target == appPort)
                    {
                        servicePorts.Add(sp.Port);
                    }
                }
            }

            if (servicePorts.Count > 0 || !anyPorts)
            {
                result.Add((limit, servicePorts));
            }
        }

        result.Sort((a, b) =>
        {
            var c = string.CompareOrdinal(a.Item1.Namespace, b.Item1.Namespace);
            return c != 0 ? c : string.CompareOrdinal(a.Item1.Name, b.Item1.Name);
        });
        return result;
    }

    /// <summary>A token bucket refilled with requestsPerUnit every unit, holding requestsPerUnit + burst.</summary>
    private static LocalRateLimit Bucket(RateLimit limit)
    {
        var spec = limit.Spec!;
        var perUnit = (uint)(spec.RequestsPerUnit ?? 1);
        var burst = (uint)(spec.Burst ?? 0);
        var unit = spec.Unit switch
        {
            RateLimitUnit.Minute => TimeSpan.FromMinutes(1),
            RateLimitUnit.Hour => TimeSpan.FromHours(1),
            RateLimitUnit.Day => TimeSpan.FromDays(1),
            _ => TimeSpan.FromSeconds(1),
        };
        return new LocalRateLimit
        {
            StatPrefix = RateLimitStatPrefix,
            TokenBucket = new TokenBucket
            {
                MaxTokens = (uint)Math.Min((ulong)perUnit + burst, uint.MaxValue),
                TokensPerFill = perUnit,
                FillInterval = XdsBuild.Duration(unit),
            },
            FilterEnabled = new RuntimeFractionalPercent { DefaultValue = XdsBuild.FractionHundred(100), RuntimeKey = "local_rate_limit_enabled" },
            FilterEnforced = new RuntimeFractionalPercent { DefaultValue = XdsBuild.FractionHundred(100), RuntimeKey = "local_rate_limit_enforced" },
            EnableXRatelimitHeaders = Skein.Xds.Envoy.Extensions.Common.Ratelimit.V3.XRateLimitHeadersRFCVersion.DraftVersion03,
        };
    }

    private static List<Listener> Proxyless(MeshSnapshot snapshot, ResolvedProxy proxy)
    {
        var listeners = new List<Listener>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in snapshot.Services)
        {
            if (service.Host.StartsWith('*') || service.Resolution == ServiceResolution.Passthrough)
            {
                continue;
            }

            foreach (var port in service.Ports)
            {
                if (!port.Protocol.IsHttp())
                {
                    continue;
                }

                var hcm = XdsAny.Pack(new HttpConnectionManager
                {
                    StatPrefix = ResourceNames.ProxylessListener(service.Host, port.Port),
                    Rds = new Rds { ConfigSource = XdsBuild.Ads(), RouteConfigName = ResourceNames.ProxylessListener(service.Host, port.Port) },
                    HttpFilters = { FaultFilter(), RouterFilter() },
                }, TypeUrls.HttpConnectionManager);
                var aliases = service.HostAliases(proxy.Namespace).ToList();
                if (service.Vip is { } vip)
                {
                    aliases.Add(vip);
                }

                foreach (var alias in aliases)
                {
                    var name = ResourceNames.ProxylessListener(alias, port.Port);
                    if (names.Add(name))
                    {
                        listeners.Add(new Listener { Name = name, ApiListener = new ApiListener { ApiListener_ = hcm } });
                    }
                }
            }
        }

        listeners.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return listeners;
    }

    private static HttpFilter FaultFilter() => new() { Name = FilterNames.Fault, TypedConfig = XdsAny.Pack(new HTTPFault(), TypeUrls.HttpFault) };

    private static HttpFilter RouterFilter() => new() { Name = FilterNames.Router, TypedConfig = XdsAny.Pack(new Router(), TypeUrls.Router) };

    private static Filter HcmFilter(HttpConnectionManager hcm) =>
        new() { Name = FilterNames.HttpConnectionManager, TypedConfig = XdsAny.Pack(hcm, TypeUrls.HttpConnectionManager) };

    private static Filter TcpProxyFilter(TcpProxy proxy) =>
        new() { Name = FilterNames.TcpProxy, TypedConfig = XdsAny.Pack(proxy, TypeUrls.TcpProxy) };
}
