using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Skein.Proxy.Protocol;
using Skein.Proxy.Runtime;
using Skein.Proxy.Telemetry;

namespace Skein.Proxy.Admin;

/// <summary>Process-level controls the admin port acts on (implemented by the host).</summary>
internal interface IProxyLifetime
{
    bool IsDraining { get; }

    /// <summary>Stops accepting new connections on the capture ports (<c>/drain_listeners</c>).</summary>
    void DrainListeners();

    /// <summary>Exits at once (<c>/quitquitquit</c>).</summary>
    void Quit();

    /// <summary>False while the workload certificate a CA is to issue has not arrived yet.</summary>
    bool IdentityReady => true;

    /// <summary>The <c>/certs</c> answer (Envoy's admin endpoint): workload certificate and trust bundle as JSON.</summary>
    string CertificatesJson() => "{\"certificates\": []}\n";
}

/// <summary>The admin (127.0.0.1:15000), stats (15090) and health (15021) endpoints.</summary>
internal sealed class AdminEndpoints(RuntimeConfigStore store, MetricsCollector metrics, IProxyLifetime lifetime, TapHub? tap = null)
{
    public Task HandleAsync(HttpContext http, ListenerRole role)
    {
        var path = http.Request.Path.Value ?? "/";
        return role switch
        {
            ListenerRole.Health => path == "/healthz/ready" ? Ready(http, store.IsReady && lifetime.IdentityReady && !lifetime.IsDraining) : NotFound(http),
            ListenerRole.Stats => path == "/stats/prometheus" ? Prometheus(http) : NotFound(http),
            _ => Admin(http, path),
        };
    }

    private Task Admin(HttpContext http, string path)
    {
        var post = HttpMethods.IsPost(http.Request.Method);
        switch (path)
        {
            case "/ready":
                return Text(http, store.IsReady ? 200 : 503, store.IsReady ? (lifetime.IsDraining ? "DRAINING\n" : "LIVE\n") : "PRE_INITIALIZING\n");
            case "/certs":
                http.Response.ContentType = "application/json";
                return http.Response.WriteAsync(lifetime.CertificatesJson());
            case "/config_dump":
                http.Response.ContentType = "application/json";
                return http.Response.WriteAsync(ConfigDumpWriter.Write(store.Current));
            case "/clusters":
                return Text(http, 200, Clusters(store.Current));
            case "/stats":
                return Stats(http);
            case "/stats/prometheus":
                return Prometheus(http);
            case "/tap" when tap is not null:
                return TapAsync(http, tap);
            case "/quitquitquit" when post:
                http.Response.OnCompleted(() =>
                {
                    lifetime.Quit();
                    return Task.CompletedTask;
                });
                return Text(http, 200, "OK\n");
            case "/drain_listeners" when post:
                lifetime.DrainListeners();
                return Text(http, 200, "OK\n");
            case "/quitquitquit" or "/drain_listeners":
                return Text(http, 405, "use POST\n");
            case "/":
                return Text(http, 200, "/config_dump\n/clusters\n/ready\n/stats\n/stats/prometheus\n/tap?path=&method=&authority=&direction=&limit= (NDJSON stream)\n/quitquitquit (POST)\n/drain_listeners (POST)\n");
            default:
                return NotFound(http);
        }
    }

    /// <summary>
    /// <c>GET /tap</c>: one JSON line per completed request matching the query (<c>path</c> prefix, <c>method</c>,
    /// <c>authority</c> substring, <c>direction</c> inbound|outbound), the access log record, until the client goes
    /// away or <c>limit</c> lines were sent. Headers are flushed at once, so a 200 means the tap is live.
    /// </summary>
    private static async Task TapAsync(HttpContext http, TapHub tap)
    {
        var query = http.Request.Query;
        var filter = TapFilter.FromQuery(query, out var error);
        long limit = long.MaxValue;
        if (filter is not null && query.TryGetValue("limit", out var l) && l.Count > 0
            && (!long.TryParse(l[0], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit <= 0))
        {
            error = "limit: must be a positive number";
        }

        if (filter is null || error is not null)
        {
            await Text(http, 400, error + "\n").ConfigureAwait(false);
            return;
        }

        var ct = http.RequestAborted;
        using var subscription = tap.Subscribe(filter);
        http.Response.ContentType = "application/x-ndjson";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.StartAsync(ct).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
        long sent = 0;
        try
        {
            var lines = subscription.Lines;
            while (sent < limit && await lines.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (sent < limit && lines.TryRead(out var line))
                {
                    await http.Response.Body.WriteAsync(line, ct).ConfigureAwait(false);
                    sent++;
                }

                await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // the client went away
        }
    }

    private static Task Ready(HttpContext http, bool ready) => Text(http, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");

    private static Task NotFound(HttpContext http) => Text(http, 404, "not found\n");

    private static Task Text(HttpContext http, int status, string body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/plain; charset=utf-8";
        return http.Response.WriteAsync(body);
    }

    private Task Prometheus(HttpContext http)
    {
        var sb = new StringBuilder();
        metrics.WritePrometheus(sb);
        http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return http.Response.WriteAsync(sb.ToString());
    }

    private Task Stats(HttpContext http)
    {
        var sb = new StringBuilder();
        var config = store.Current;
        foreach (var (name, c) in config.Clusters)
        {
            var r = c.Runtime;
            Line(sb, $"cluster.{name}.upstream_rq_total", r.TotalRequests);
            Line(sb, $"cluster.{name}.upstream_rq_active", r.ActiveRequests);
            Line(sb, $"cluster.{name}.upstream_rq_5xx", r.Errors5xx);
            Line(sb, $"cluster.{name}.upstream_rq_timeout", r.Timeouts);
            Line(sb, $"cluster.{name}.upstream_cx_connect_fail", r.ConnectFailures);
            Line(sb, $"cluster.{name}.upstream_rq_pending_overflow", r.Overflows);
            Line(sb, $"cluster.{name}.upstream_cx_none_healthy", r.NoHealthyUpstream);
            Line(sb, $"cluster.{name}.membership_total", c.Endpoints.All.Length);
            Line(sb, $"cluster.{name}.membership_healthy", c.Endpoints.Healthy.Length);
            Line(sb, $"cluster.{name}.upstream_rq_retry", r.Retries);
            Line(sb, $"cluster.{name}.upstream_rq_retry_overflow", r.RetryOverflows);
            Line(sb, $"cluster.{name}.upstream_rq_retry_limit_exceeded", r.RetryLimitExceeded);
            Line(sb, $"cluster.{name}.upstream_rq_retry_success", r.RetrySuccesses);
            Line(sb, $"cluster.{name}.upstream_rq_per_try_timeout", r.PerTryTimeouts);
            if (r.Outlier is { } outlier)
            {
                Line(sb, $"cluster.{name}.outlier_detection.ejections_active", outlier.EjectionsActive);
                Line(sb, $"cluster.{name}.outlier_detection.ejections_enforced_total", outlier.EjectionsEnforced);
                Line(sb, $"cluster.{name}.outlier_detection.ejections_overflow", outlier.EjectionsOverflow);
            }
        }

        Line(sb, "server.config_generation", config.Generation);
        Line(sb, "server.live", store.IsReady ? 1 : 0);
        metrics.WriteStats(sb);
        return Text(http, 200, sb.ToString());
    }

    private static void Line(StringBuilder sb, string name, long value) =>
        sb.Append(name).Append(": ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    /// <summary>Envoy's <c>/clusters</c> text format: <c>cluster::host:port::stat::value</c>.</summary>
    internal static string Clusters(RuntimeConfig config)
    {
        var sb = new StringBuilder();
        foreach (var (name, c) in config.Clusters)
        {
            var s = c.Runtime.Settings;
            sb.Append(name).Append("::default_priority::max_connections::").Append(s.CircuitBreakers.MaxConnections).Append('\n');
            sb.Append(name).Append("::default_priority::max_requests::").Append(s.CircuitBreakers.MaxRequests).Append('\n');
            sb.Append(name).Append("::lb_policy::").Append(s.LbPolicy).Append('\n');
            foreach (var e in c.Endpoints.All)
            {
                var prefix = name + "::" + e.Address + "::";
                sb.Append(prefix).Append("cx_connect_fail::").Append(e.Stats.ConnectFailures).Append('\n');
                sb.Append(prefix).Append("rq_active::").Append(e.Stats.ActiveRequests).Append('\n');
                sb.Append(prefix).Append("rq_error::").Append(e.Stats.Errors).Append('\n');
                sb.Append(prefix).Append("rq_timeout::").Append(e.Stats.Timeouts).Append('\n');
                sb.Append(prefix).Append("rq_total::").Append(e.Stats.TotalRequests).Append('\n');
                sb.Append(prefix).Append("health_flags::").Append(HealthFlags(e.Health, e.Stats.IsEjected)).Append('\n');
                sb.Append(prefix).Append("priority::").Append(e.Priority).Append('\n');
                sb.Append(prefix).Append("weight::").Append(e.Weight).Append('\n');
                sb.Append(prefix).Append("locality::").Append(e.Locality).Append('\n');
            }
        }

        return sb.ToString();
    }

    private static string HealthFlags(EndpointHealth h, bool ejected)
    {
        var eds = h switch
        {
            EndpointHealth.Healthy or EndpointHealth.Unknown => "",
            EndpointHealth.Degraded => "/degraded_eds_health",
            EndpointHealth.Draining => "/pending_dynamic_removal",
            _ => "/failed_eds_health",
        };
        var flags = (ejected ? "/failed_outlier_check" : "") + eds;
        return flags.Length == 0 ? "healthy" : flags;
    }
}
