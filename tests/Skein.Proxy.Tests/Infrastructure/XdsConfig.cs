using System.Globalization;
using Google.Protobuf;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Route.V3;

namespace Skein.Proxy.Tests.Infrastructure;

/// <summary>Builds xDS resources for tests from Envoy-style JSON (placeholders <c>@NAME@</c>), so tests read like Envoy config.</summary>
internal static class XdsConfig
{
    public const string RouterFilter = """{"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}""";

    public static T Parse<T>(string json)
        where T : IMessage, new() => (T)XdsTypeRegistry.JsonParser.Parse(json, new T().Descriptor);

    private static string Fill(string template, params (string Key, object Value)[] values)
    {
        foreach (var (k, v) in values)
        {
            template = template.Replace("@" + k + "@", Convert.ToString(v, CultureInfo.InvariantCulture), StringComparison.Ordinal);
        }

        return template;
    }

    /// <summary>An outbound HTTP listener <c>0.0.0.0_PORT</c> using RDS name <paramref name="routeName"/>.</summary>
    public static Listener HttpListener(int port, string routeName, string? extraFilters = null, string upgrades = """[{"upgrade_type": "websocket"}]""") =>
        Parse<Listener>(Fill(
            """
            {
              "name": "0.0.0.0_@PORT@",
              "address": {"socket_address": {"address": "0.0.0.0", "port_value": @PORT@}},
              "bind_to_port": false,
              "traffic_direction": "OUTBOUND",
              "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                  "stat_prefix": "outbound_0.0.0.0_@PORT@",
                  "rds": {"config_source": {"ads": {}}, "route_config_name": "@ROUTE@"},
                  "upgrade_configs": @UPGRADES@,
                  "http_filters": [@FILTERS@ @ROUTER@]}}]}]
            }
            """,
            ("PORT", port), ("ROUTE", routeName), ("UPGRADES", upgrades), ("FILTERS", extraFilters is null ? string.Empty : extraFilters + ","), ("ROUTER", RouterFilter)));

    /// <summary>A TCP listener <c>0.0.0.0_PORT</c> proxying to <paramref name="cluster"/>.</summary>
    public static Listener TcpListener(int port, string cluster, string name = "") =>
        Parse<Listener>(Fill(
            """
            {
              "name": "@NAME@",
              "address": {"socket_address": {"address": "0.0.0.0", "port_value": @PORT@}},
              "bind_to_port": false,
              "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                  "stat_prefix": "tcp", "cluster": "@CLUSTER@"}}]}]
            }
            """,
            ("NAME", name.Length > 0 ? name : "0.0.0.0_" + port), ("PORT", port), ("CLUSTER", cluster)));

    /// <summary>A route configuration from its virtual hosts' JSON.</summary>
    public static RouteConfiguration Routes(string name, string virtualHostsJson, string extra = "") =>
        Parse<RouteConfiguration>(Fill("""{"name": "@NAME@", "virtual_hosts": @HOSTS@ @EXTRA@ }""", ("NAME", name), ("HOSTS", virtualHostsJson), ("EXTRA", extra)));

    /// <summary>One virtual host with all domains (<c>*</c>) routing everything to <paramref name="cluster"/>.</summary>
    public static RouteConfiguration CatchAll(string name, string cluster, string routeExtra = "") =>
        Routes(name, Fill(
            """[{"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "@CLUSTER@" @EXTRA@ }}]}]""",
            ("CLUSTER", cluster), ("EXTRA", routeExtra)));

    private static string EndpointList(IEnumerable<int> ports) => string.Join(",", ports.Select(p => Fill(
        """{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": @P@}}}}""", ("P", p))));

    /// <summary>A STATIC cluster with inline endpoints on 127.0.0.1.</summary>
    public static Cluster StaticCluster(string name, int[] ports, bool http2 = false, string extra = "") =>
        Parse<Cluster>(Fill(
            """
            {"name": "@NAME@", "type": "STATIC", "connect_timeout": "1s" @H2@ @EXTRA@,
             "load_assignment": {"cluster_name": "@NAME@", "endpoints": [{"lb_endpoints": [@ENDPOINTS@]}]}}
            """,
            ("NAME", name),
            ("H2", http2
                ? """, "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {"@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", "explicit_http_config": {"http2_protocol_options": {}}}}"""
                : string.Empty),
            ("EXTRA", extra),
            ("ENDPOINTS", EndpointList(ports))));

    /// <summary>An EDS cluster (endpoints come as a ClusterLoadAssignment).</summary>
    public static Cluster EdsCluster(string name, string extra = "") =>
        Parse<Cluster>(Fill("""{"name": "@NAME@", "type": "EDS", "connect_timeout": "1s", "eds_cluster_config": {"eds_config": {"ads": {}}} @EXTRA@ }""", ("NAME", name), ("EXTRA", extra)));

    public static ClusterLoadAssignment Endpoints(string cluster, params int[] ports) =>
        Parse<ClusterLoadAssignment>(Fill(
            """{"cluster_name": "@NAME@", "endpoints": [{"load_balancing_weight": 1, "lb_endpoints": [@ENDPOINTS@]}]}""",
            ("NAME", cluster), ("ENDPOINTS", EndpointList(ports))));
}
