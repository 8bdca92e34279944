using System.Collections.Frozen;
using System.Collections.Immutable;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Route.V3;

namespace Skein.Proxy.Runtime;

/// <summary>Shared compiler helpers: header mutations, per-filter configs, error collection.</summary>
internal sealed partial class RuntimeCompiler
{
    private static HeaderMutations Mutations(
        RepeatedField<HeaderValueOption> add, RepeatedField<string> remove, List<string> errors, string where)
    {
        if (add.Count == 0 && remove.Count == 0)
        {
            return HeaderMutations.None;
        }

        var adds = ImmutableArray.CreateBuilder<HeaderAddition>();
        for (var i = 0; i < add.Count; i++)
        {
            var o = add[i];
            if (o.Header is null || string.IsNullOrEmpty(o.Header.Key))
            {
                errors.Add($"{where}[{i}].header.key: is required");
                continue;
            }

            if (o.Header.Key.StartsWith(':') || string.Equals(o.Header.Key, "host", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{where}[{i}].header.key: \"{o.Header.Key}\" cannot be modified");
                continue;
            }

            if (o.Append is not null && o.AppendAction != HeaderValueOption.Types.HeaderAppendAction.AppendIfExistsOrAdd)
            {
                errors.Add($"{where}[{i}]: append and append_action are mutually exclusive");
                continue;
            }

            var action = o.Append is { } append
                ? (append ? HeaderAppend.AppendIfExistsOrAdd : HeaderAppend.OverwriteIfExistsOrAdd)
                : (HeaderAppend)(int)o.AppendAction;
            adds.Add(new HeaderAddition(o.Header.Key.ToLowerInvariant(), o.Header.Value, action, o.KeepEmptyValue));
        }

        var removes = ImmutableArray.CreateBuilder<string>();
        foreach (var r in remove)
        {
            if (r.StartsWith(':') || string.Equals(r, "host", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{where}: \"{r}\" cannot be removed");
                continue;
            }

            removes.Add(r.ToLowerInvariant());
        }

        return new HeaderMutations(removes.ToImmutable(), adds.ToImmutable());
    }

    private PerFilterConfig FilterConfigs(MapField<string, Any> map, List<string> errors, string where)
    {
        if (map.Count == 0)
        {
            return PerFilterConfig.Empty;
        }

        var compiled = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, any) in map)
        {
            var config = any;
            var optional = false;
            if (string.Equals(any.TypeUrl, "type.googleapis.com/envoy.config.route.v3.FilterConfig", StringComparison.Ordinal))
            {
                var wrapper = any.Unpack<FilterConfig>();
                config = wrapper.Config;
                optional = wrapper.IsOptional;
            }

            if (config is null || !filters.ByPerRouteTypeUrl.TryGetValue(config.TypeUrl, out var factory))
            {
                if (!optional)
                {
                    errors.Add($"{where}[{name}]: unknown filter config type {config?.TypeUrl}");
                }

                continue;
            }

            try
            {
                compiled[name] = factory.CompilePerRoute(config);
            }
            catch (ConfigException e)
            {
                errors.Add($"{where}[{name}]: {e.Message}");
            }
        }

        return new PerFilterConfig(compiled.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private static T? Guard<T>(Func<T> compile, List<string> errors, string where)
        where T : class
    {
        try
        {
            return compile();
        }
        catch (ConfigException e)
        {
            errors.Add($"{where}: {e.Message}");
            return null;
        }
    }

    private static T Wrap<T>(Func<T> compile, string where)
    {
        try
        {
            return compile();
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"{where}: {e.Message}");
        }
    }

    private static T? Fail<T>(List<string> errors, string message)
        where T : class
    {
        errors.Add(message);
        return null;
    }
}
