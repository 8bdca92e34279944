using System.Collections.Immutable;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Skein.Proxy.Runtime;
using Skein.Proxy.Telemetry;
using Skein.Xds;

namespace Skein.Proxy.Discovery;

/// <summary>
/// The single writer of the config: merges the bootstrap's static resources with dynamic (xDS) ones,
/// compiles the whole set and publishes it atomically when it is valid and complete.
/// </summary>
internal sealed partial class ConfigApplier(
    RuntimeConfigStore store, RuntimeCompiler compiler, ProxyMetrics metrics, TimeProvider time, ILogger<ConfigApplier> logger)
{
    private readonly Lock _lock = new();
    private XdsResourceSet _static = XdsResourceSet.Empty;

    /// <summary>Sets the bootstrap's static resources (kept in every later snapshot, marked static).</summary>
    public void SetStatic(Bootstrap bootstrap)
    {
        var now = time.GetUtcNow();
        _static = XdsResourceSet.Empty with
        {
            Listeners = State(TypeUrls.Listener, bootstrap.Listeners, l => l.Name, now),
            Clusters = State(TypeUrls.Cluster, bootstrap.Clusters, c => c.Name, now),
            Secrets = State(TypeUrls.Secret, bootstrap.Secrets, s => s.Name, now),
        };
    }

    /// <summary>The static resources alone (what a proxy without ADS serves).</summary>
    public XdsResourceSet Static => _static;

    /// <summary>Compiles <paramref name="dynamic"/> together with the static resources without publishing (validation for NACK).</summary>
    public CompileResult Validate(XdsResourceSet dynamic, bool treatMissingAsEmpty = false)
    {
        lock (_lock)
        {
            return compiler.Compile(Merge(dynamic), store.Current, treatMissingAsEmpty);
        }
    }

    /// <summary>Compiles and, when valid and complete (or <paramref name="treatMissingAsEmpty"/>), publishes.</summary>
    public CompileResult Apply(XdsResourceSet dynamic, bool treatMissingAsEmpty = false)
    {
        lock (_lock)
        {
            var previous = store.Current;
            var result = compiler.Compile(Merge(dynamic), previous, treatMissingAsEmpty);
            if (result.Config is { } next)
            {
                store.Publish(next);
                compiler.RetireUnused(previous, next);
                Log.Applied(logger, next.Generation, next.Listeners.All.Length, next.Routes.Count, next.Clusters.Count);
            }
            else if (!result.IsValid)
            {
                Log.Rejected(logger, string.Join("; ", result.Errors));
            }

            return result;
        }
    }

    public void RecordUpdate(string typeUrl, bool accepted) => metrics.ConfigUpdate(typeUrl, accepted);

    private XdsResourceSet Merge(XdsResourceSet dynamic) => new(
        Concat(_static.Listeners, dynamic.Listeners),
        Concat(_static.Routes, dynamic.Routes),
        Concat(_static.Clusters, dynamic.Clusters),
        Concat(_static.Endpoints, dynamic.Endpoints),
        Concat(_static.Secrets, dynamic.Secrets));

    private static XdsTypeState Concat(XdsTypeState s, XdsTypeState d) =>
        s.Resources.IsEmpty ? d : d.Resources.IsEmpty ? s with { Version = d.Version } : new XdsTypeState(d.TypeUrl, d.Version, s.Resources.AddRange(d.Resources));

    private static XdsTypeState State<T>(string typeUrl, ImmutableArray<T> items, Func<T, string> name, DateTimeOffset now)
        where T : IMessage
    {
        var list = ImmutableArray.CreateBuilder<XdsResource>();
        foreach (var item in items)
        {
            list.Add(new XdsResource(name(item), item, string.Empty, now, IsStatic: true));
        }

        return new XdsTypeState(typeUrl, string.Empty, list.ToImmutable());
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Config {Generation} applied: {Listeners} listeners, {Routes} route configs, {Clusters} clusters")]
        public static partial void Applied(ILogger logger, long generation, int listeners, int routes, int clusters);

        [LoggerMessage(EventId = 41, Level = LogLevel.Warning, Message = "Config rejected: {Errors}")]
        public static partial void Rejected(ILogger logger, string errors);
    }
}
