namespace Skein.Proxy.Tests.Infrastructure;

/// <summary>Bootstrap JSON for process tests: one outbound HTTP listener on port 9080 routing to a backend.</summary>
internal static class Bootstraps
{
    public static string Backend(int backendPort, string routeTimeout = "0s") =>
        """
        {
          "node": {"id": "sidecar~127.0.0.1~app.default~default.svc.cluster.local", "cluster": "app"},
          "static_resources": {
            "listeners": [{
              "name": "0.0.0.0_9080",
              "address": {"socket_address": {"address": "0.0.0.0", "port_value": 9080}},
              "bind_to_port": false,
              "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                  "stat_prefix": "outbound_9080",
                  "route_config": {"name": "9080", "virtual_hosts": [{"name": "backend", "domains": ["*"],
                     "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "outbound|9080||backend", "timeout": "@TIMEOUT@"}}]}]},
                  "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]
            }],
            "clusters": [{"name": "outbound|9080||backend", "type": "STATIC", "connect_timeout": "1s",
              "load_assignment": {"cluster_name": "outbound|9080||backend", "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": @PORT@}}}}]}]}}]
          }
        }
        """.Replace("@PORT@", backendPort.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
           .Replace("@TIMEOUT@", routeTimeout, StringComparison.Ordinal);
}
