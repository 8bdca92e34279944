using Skein.ControlPlane.Mesh;
using Skein.ControlPlane.Registry;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Route.V3;

namespace Skein.ControlPlane.Translation;

/// <summary>
/// RDS. For a sidecar: one RouteConfiguration per HTTP service port, named by the port (<c>"9080"</c>), with a
/// virtual host <c>&lt;fqdn&gt;:&lt;port&gt;</c> per service on that port (domains: the FQDN, the short forms a
/// client in the proxy's namespace can use, and the VIP, each with and without the port) and a final
/// <c>allow_any</c> (<c>*</c>) to <c>PassthroughCluster</c>. For a proxyless gRPC client: one RouteConfiguration
/// <c>&lt;fqdn&gt;:&lt;port&gt;</c> per HTTP service port, named by its API listeners.
/// </summary>
internal static class RouteGenerator
{
    /// <param name="snapshot">The mesh.</param>
    /// <param name="proxy">The proxy.</param>
    /// <param name="routes">The routes of one service port (default: <see cref="HttpRouteTranslator.RoutesFor"/>;
    /// the translation cache passes its per-service cache).</param>
    public static List<RouteConfiguration> Generate(MeshSnapshot snapshot, ResolvedProxy proxy, Func<MeshService, int, IEnumerable<Route>>? routes = null)
    {
        routes ??= (service, port) => HttpRouteTranslator.RoutesFor(snapshot, proxy, service, port);
        var result = new List<RouteConfiguration>();
        if (proxy.Mode == ProxyMode.Proxyless)
        {
            foreach (var service in snapshot.Services)
            {
                if (service.Host.StartsWith('*') || service.Resolution == ServiceResolution.Passthrough)
                {
                    continue;
                }

                foreach (var port in service.Ports)
                {
                    if (port.Protocol.IsHttp())
                    {
                        var name = ResourceNames.ProxylessListener(service.Host, port.Port);
                        var vh = VirtualHost(proxy, service, port.Port, new HashSet<string>(StringComparer.OrdinalIgnoreCase), routes);
                        var rc = new RouteConfiguration { Name = name, ValidateClusters = false };
                        if (vh is not null)
                        {
                            rc.VirtualHosts.Add(vh);
                        }

                        result.Add(rc);
                    }
                }
            }

            result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return result;
        }

        foreach (var (port, services) in HttpServicesByPort(snapshot))
        {
            var rc = new RouteConfiguration { Name = ResourceNames.RouteConfig(port), ValidateClusters = false };
            var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var service in services)
            {
                if (VirtualHost(proxy, service, port, used, routes) is { } vh)
                {
                    rc.VirtualHosts.Add(vh);
                }
            }

            rc.VirtualHosts.Add(new VirtualHost
            {
                Name = WellKnownNames.AllowAnyVirtualHost,
                Domains = { "*" },
                Routes =
                {
                    new Route
                    {
                        Name = WellKnownNames.AllowAnyVirtualHost,
                        Match = new RouteMatch { Prefix = "/" },
                        Route_ = new RouteAction
                        {
                            Cluster = WellKnownNames.PassthroughCluster,
                            Timeout = XdsBuild.Zero,
                            MaxStreamDuration = new RouteAction.Types.MaxStreamDuration { MaxStreamDuration_ = XdsBuild.Zero, GrpcTimeoutHeaderMax = XdsBuild.Zero },
                        },
                    },
                },
            });
            result.Add(rc);
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    /// <summary>Ports with at least one HTTP service, each with its HTTP services in host order.</summary>
    internal static SortedDictionary<int, List<MeshService>> HttpServicesByPort(MeshSnapshot snapshot)
    {
        var byPort = new SortedDictionary<int, List<MeshService>>();
        foreach (var service in snapshot.Services)
        {
            foreach (var port in service.Ports)
            {
                if (!port.Protocol.IsHttp())
                {
                    continue;
                }

                if (!byPort.TryGetValue(port.Port, out var list))
                {
                    byPort[port.Port] = list = [];
                }

                list.Add(service);
            }
        }

        return byPort;
    }

    /// <summary>The domains a client in the proxy's namespace can address the service by, with and without the port.</summary>
    internal static List<string> Domains(MeshService service, int port, ResolvedProxy proxy)
    {
        var domains = new List<string>();
        foreach (var alias in service.HostAliases(proxy.Namespace))
        {
            domains.Add(alias);
            domains.Add($"{alias}:{port}");
        }

        if (service.Vip is { } vip)
        {
            domains.Add(vip);
            domains.Add($"{vip}:{port}");
        }

        return domains;
    }

    private static VirtualHost? VirtualHost(ResolvedProxy proxy, MeshService service, int port, HashSet<string> used, Func<MeshService, int, IEnumerable<Route>> routes)
    {
        var domains = Domains(service, port, proxy).Where(used.Add).ToList();
        if (domains.Count == 0)
        {
            return null; // every name is taken by an earlier service (duplicate domains are rejected by clients)
        }

        var vh = new VirtualHost { Name = $"{service.Host}:{port}" };
        vh.Domains.AddRange(domains);
        vh.Routes.AddRange(routes(service, port));
        return vh;
    }
}
