using Skein.Proxy.Tls;
using Skein.Xds;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using HttpProtocolOptions = Skein.Xds.Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;

namespace Skein.Proxy.Runtime;

internal sealed partial class RuntimeCompiler
{
    private static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(5);

    private ClusterSettings? CompileClusterSettings(Cluster c, string where, List<string> errors)
    {
        if (string.IsNullOrEmpty(c.Name))
        {
            errors.Add($"{where}: name is required");
            return null;
        }

        var discovery = c.ClusterDiscoveryTypeCase == Cluster.ClusterDiscoveryTypeOneofCase.None
            ? DiscoveryKind.Static
            : c.Type switch
            {
                Cluster.Types.DiscoveryType.Static => DiscoveryKind.Static,
                Cluster.Types.DiscoveryType.StrictDns => DiscoveryKind.StrictDns,
                Cluster.Types.DiscoveryType.LogicalDns => DiscoveryKind.LogicalDns,
                Cluster.Types.DiscoveryType.Eds => DiscoveryKind.Eds,
                _ => DiscoveryKind.OriginalDestination,
            };

        var edsName = c.Name;
        if (discovery == DiscoveryKind.Eds)
        {
            var source = c.EdsClusterConfig?.EdsConfig;
            if (source is not null && source.ConfigSourceSpecifierCase == ConfigSource.ConfigSourceSpecifierOneofCase.Path)
            {
                errors.Add($"{where}.eds_cluster_config.eds_config: only ads is supported");
            }

            if (!string.IsNullOrEmpty(c.EdsClusterConfig?.ServiceName))
            {
                edsName = c.EdsClusterConfig.ServiceName;
            }
        }

        var lbPolicy = c.LbPolicy switch
        {
            Cluster.Types.LbPolicy.RoundRobin => "ROUND_ROBIN",
            Cluster.Types.LbPolicy.LeastRequest => "LEAST_REQUEST",
            Cluster.Types.LbPolicy.RingHash => "RING_HASH",
            Cluster.Types.LbPolicy.Random => "RANDOM",
            Cluster.Types.LbPolicy.Maglev => "MAGLEV",
            Cluster.Types.LbPolicy.ClusterProvided => "CLUSTER_PROVIDED",
            var other => other.ToString(),
        };
        if (!balancers.IsKnown(lbPolicy))
        {
            errors.Add($"{where}.lb_policy: {lbPolicy} is not supported");
        }

        var connectTimeout = ProtoValues.ToTimeSpan(c.ConnectTimeout) ?? DefaultConnectTimeout;
        if (connectTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{where}.connect_timeout: must be greater than 0");
        }

        UpstreamTlsSettings? tls = null;
        if (c.TransportSocket is { } ts)
        {
            try
            {
                tls = CompileUpstreamTransport(ts);
            }
            catch (ConfigException e)
            {
                errors.Add($"{where}.transport_socket: {e.Message}");
            }
        }

        var http = UpstreamHttpSettings.Default;
        foreach (var (key, any) in c.TypedExtensionProtocolOptions)
        {
            if (!string.Equals(key, TypeUrls.HttpProtocolOptionsName, StringComparison.Ordinal)
                || !string.Equals(any.TypeUrl, TypeUrls.HttpProtocolOptions, StringComparison.Ordinal))
            {
                errors.Add($"{where}.typed_extension_protocol_options[{key}]: unsupported extension {any.TypeUrl}");
                continue;
            }

            http = CompileHttpOptions(any.Unpack<HttpProtocolOptions>());
        }

        var panic = c.CommonLbConfig?.HealthyPanicThreshold is { } p ? p.Value : 50.0;
        if (panic is < 0 or > 100)
        {
            errors.Add($"{where}.common_lb_config.healthy_panic_threshold: must be 0..100");
        }

        OutlierDetectionSettings? outlier = null;
        try
        {
            outlier = CompileOutlierDetection(c.OutlierDetection);
        }
        catch (ConfigException e)
        {
            errors.Add($"{where}.outlier_detection: {e.Message}");
        }

        return new ClusterSettings(
            c.Name,
            discovery,
            edsName,
            lbPolicy,
            (int)(c.LeastRequestLbConfig?.ChoiceCount ?? 2),
            connectTimeout,
            CompileCircuitBreakers(c.CircuitBreakers),
            outlier,
            tls,
            http,
            panic,
            ProtoValues.Labels(c.Metadata, "istio"))
        {
            LocalityWeighted = c.CommonLbConfig?.LocalityWeightedLbConfig is not null,
        };
    }

    private static UpstreamHttpSettings CompileHttpOptions(HttpProtocolOptions o)
    {
        var protocol = o.UpstreamProtocolOptionsCase switch
        {
            HttpProtocolOptions.UpstreamProtocolOptionsOneofCase.ExplicitHttpConfig =>
                o.ExplicitHttpConfig.ProtocolConfigCase == HttpProtocolOptions.Types.ExplicitHttpConfig.ProtocolConfigOneofCase.Http2ProtocolOptions
                    ? UpstreamProtocol.Http2
                    : UpstreamProtocol.Http1,
            HttpProtocolOptions.UpstreamProtocolOptionsOneofCase.UseDownstreamProtocolConfig => UpstreamProtocol.UseDownstream,
            _ => UpstreamProtocol.Http1,
        };
        var h2 = o.ExplicitHttpConfig?.Http2ProtocolOptions ?? o.UseDownstreamProtocolConfig?.Http2ProtocolOptions;
        var common = o.CommonHttpProtocolOptions;
        return new UpstreamHttpSettings(
            protocol,
            ProtoValues.Timeout(common?.IdleTimeout, TimeSpan.FromHours(1)),
            common?.MaxRequestsPerConnection is > 0 and var m ? (int)m : null,
            h2?.MaxConcurrentStreams is > 0 and var s ? (int)s : null,
            ProtoValues.Timeout(common?.MaxConnectionDuration, null));
    }

    private static CircuitBreakerSettings CompileCircuitBreakers(CircuitBreakers? cb)
    {
        var d = CircuitBreakerSettings.Default;
        if (cb is null)
        {
            return d;
        }

        foreach (var t in cb.Thresholds)
        {
            if (t.Priority != RoutingPriority.Default)
            {
                continue;
            }

            return new CircuitBreakerSettings(
                (int)Math.Min(t.MaxConnections ?? (uint)d.MaxConnections, int.MaxValue),
                (int)Math.Min(t.MaxPendingRequests ?? (uint)d.MaxPendingRequests, int.MaxValue),
                (int)Math.Min(t.MaxRequests ?? (uint)d.MaxRequests, int.MaxValue),
                (int)Math.Min(t.MaxRetries ?? (uint)d.MaxRetries, int.MaxValue))
            {
                RetryBudget = t.RetryBudget is { } b
                    ? new RetryBudgetSettings(
                        b.BudgetPercent is { } bp ? Math.Clamp(bp.Value, 0, 100) : 20.0,
                        (int)Math.Min(b.MinRetryConcurrency ?? 3u, int.MaxValue))
                    : null,
            };
        }

        return d;
    }

    private static OutlierDetectionSettings? CompileOutlierDetection(OutlierDetection? o)
    {
        if (o is null)
        {
            return null;
        }

        var interval = ProtoValues.ToTimeSpan(o.Interval) ?? TimeSpan.FromSeconds(10);
        var baseTime = ProtoValues.ToTimeSpan(o.BaseEjectionTime) ?? TimeSpan.FromSeconds(30);
        if (interval <= TimeSpan.Zero)
        {
            throw new ConfigException("interval: must be greater than 0");
        }

        if (o.MaxEjectionTime is not null && ProtoValues.ToTimeSpan(o.MaxEjectionTime) < baseTime)
        {
            throw new ConfigException("max_ejection_time: cannot be smaller than base_ejection_time");
        }

        return new OutlierDetectionSettings(
            (int)(o.Consecutive5Xx ?? 5),
            (int)(o.ConsecutiveGatewayFailure ?? 5),
            (int)(o.ConsecutiveLocalOriginFailure ?? 5),
            interval,
            baseTime,
            ProtoValues.ToTimeSpan(o.MaxEjectionTime) ?? (baseTime > TimeSpan.FromSeconds(300) ? baseTime : TimeSpan.FromSeconds(300)),
            (int)Math.Min(o.MaxEjectionPercent ?? 10, 100),
            (int)(o.EnforcingConsecutive5Xx ?? 100),
            (int)(o.EnforcingConsecutiveGatewayFailure ?? 0),
            o.SplitExternalLocalOriginErrors)
        {
            EnforcingConsecutiveLocalOriginFailure = (int)(o.EnforcingConsecutiveLocalOriginFailure ?? 100),
        };
    }

    private static UpstreamTlsSettings? CompileUpstreamTransport(TransportSocket ts)
    {
        if (ts.TypedConfig is null || string.Equals(ts.Name, "envoy.transport_sockets.raw_buffer", StringComparison.Ordinal))
        {
            return null;
        }

        if (!string.Equals(ts.TypedConfig.TypeUrl, TypeUrls.UpstreamTlsContext, StringComparison.Ordinal))
        {
            throw new ConfigException($"unsupported transport socket {ts.TypedConfig.TypeUrl}");
        }

        var ctx = ts.TypedConfig.Unpack<UpstreamTlsContext>();
        return new UpstreamTlsSettings(TlsSettingsCompiler.Common(ctx.CommonTlsContext), string.IsNullOrEmpty(ctx.Sni) ? null : ctx.Sni);
    }

    private static DownstreamTlsSettings? CompileDownstreamTransport(TransportSocket? ts)
    {
        if (ts?.TypedConfig is null || string.Equals(ts.Name, "envoy.transport_sockets.raw_buffer", StringComparison.Ordinal))
        {
            return null;
        }

        if (!string.Equals(ts.TypedConfig.TypeUrl, TypeUrls.DownstreamTlsContext, StringComparison.Ordinal))
        {
            throw new ConfigException($"unsupported transport socket {ts.TypedConfig.TypeUrl}");
        }

        var ctx = ts.TypedConfig.Unpack<DownstreamTlsContext>();
        return new DownstreamTlsSettings(TlsSettingsCompiler.Common(ctx.CommonTlsContext), ctx.RequireClientCertificate ?? false);
    }
}
