using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Skein.ControlPlane.Registry;

/// <summary>
/// The workload instances the local runtime has registered (one per running replica), by instance id.
/// Immutable state replaced whole on each change; kept in the data directory so a restarted control plane
/// still knows the pods that are running.
/// </summary>
internal sealed partial class InstanceRegistry
{
    private readonly object _gate = new();
    private readonly DataDirectory _data;
    private readonly ILogger _logger;
    private ImmutableSortedDictionary<string, InstanceRegistration> _instances = ImmutableSortedDictionary.Create<string, InstanceRegistration>(StringComparer.Ordinal);

    public InstanceRegistry(DataDirectory data, ILogger<InstanceRegistry> logger)
    {
        _data = data;
        _logger = logger;
    }

    public event Action? Changed;

    public ImmutableSortedDictionary<string, InstanceRegistration> Instances => Volatile.Read(ref _instances);

    /// <summary>Loads the instances kept in the data directory.</summary>
    public void LoadPersisted()
    {
        var text = _data.Read(DataDirectory.InstancesFile);
        if (text is null)
        {
            return;
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            var builder = ImmutableSortedDictionary.CreateBuilder<string, InstanceRegistration>(StringComparer.Ordinal);
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                var (registration, error) = RegistrationJson.Parse(item);
                if (registration is not null)
                {
                    builder[registration.Id] = registration;
                }
                else
                {
                    Log.PersistedError(_logger, error ?? "invalid instance");
                }
            }

            Volatile.Write(ref _instances, builder.ToImmutable());
        }
        catch (JsonException e)
        {
            Log.PersistedError(_logger, e.Message);
        }
    }

    /// <summary>Adds or replaces an instance; returns false when it was already registered with the same content.</summary>
    public bool Register(InstanceRegistration registration)
    {
        lock (_gate)
        {
            if (_instances.TryGetValue(registration.Id, out var existing) && Same(existing, registration))
            {
                return false;
            }

            Volatile.Write(ref _instances, _instances.SetItem(registration.Id, registration));
            Persist();
        }

        Changed?.Invoke();
        return true;
    }

    /// <summary>Adds or replaces many instances with one change (one new snapshot).</summary>
    public void RegisterAll(IEnumerable<InstanceRegistration> registrations)
    {
        lock (_gate)
        {
            var builder = _instances.ToBuilder();
            foreach (var r in registrations)
            {
                builder[r.Id] = r;
            }

            Volatile.Write(ref _instances, builder.ToImmutable());
            Persist();
        }

        Changed?.Invoke();
    }

    public bool Deregister(string id)
    {
        lock (_gate)
        {
            if (!_instances.ContainsKey(id))
            {
                return false;
            }

            Volatile.Write(ref _instances, _instances.Remove(id));
            Persist();
        }

        Changed?.Invoke();
        return true;
    }

    private static bool Same(InstanceRegistration a, InstanceRegistration b) =>
        string.Equals(RegistrationJson.Write(a), RegistrationJson.Write(b), StringComparison.Ordinal);

    private void Persist()
    {
        if (!_data.IsEnabled)
        {
            return;
        }

        var sb = new StringBuilder("[\n");
        var first = true;
        foreach (var r in _instances.Values)
        {
            sb.Append(first ? "  " : ",\n  ").Append(RegistrationJson.Write(r));
            first = false;
        }

        sb.Append("\n]\n");
        try
        {
            _data.Write(DataDirectory.InstancesFile, sb.ToString());
        }
        catch (IOException e)
        {
            Log.PersistedError(_logger, e.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "registered instances: {Message}")]
        public static partial void PersistedError(ILogger logger, string message);
    }
}

/// <summary>
/// JSON form of an instance registration:
/// <c>{"id", "workload", "namespace", "address", "ports": [9080 | {"name","port","protocol"}], "labels": {},
/// "serviceAccount", "healthy", "sidecarInboundAddress"}</c>. "instanceId" is accepted for "id".
/// </summary>
internal static class RegistrationJson
{
    public static (InstanceRegistration? Registration, string? Error) Parse(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            return (null, "an instance must be a JSON object");
        }

        string? Str(string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        var id = Str("id") ?? Str("instanceId");
        var workload = Str("workload");
        var address = Str("address");
        if (string.IsNullOrEmpty(id))
        {
            return (null, "id is required");
        }

        if (string.IsNullOrEmpty(workload))
        {
            return (null, "workload is required");
        }

        if (string.IsNullOrEmpty(address) || !System.Net.IPAddress.TryParse(address, out _))
        {
            return (null, "address must be an IP address");
        }

        ImmutableArray<InstancePort>? ports = null;
        if (e.TryGetProperty("ports", out var portsElement) && portsElement.ValueKind == JsonValueKind.Array)
        {
            var list = ImmutableArray.CreateBuilder<InstancePort>();
            foreach (var p in portsElement.EnumerateArray())
            {
                if (p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out var n) && n is > 0 and <= 65535)
                {
                    list.Add(new InstancePort(null, n, null));
                }
                else if (p.ValueKind == JsonValueKind.Object
                    && (p.TryGetProperty("port", out var pn) || p.TryGetProperty("containerPort", out pn))
                    && pn.TryGetInt32(out var num) && num is > 0 and <= 65535)
                {
                    list.Add(new InstancePort(
                        p.TryGetProperty("name", out var nm) && nm.ValueKind == JsonValueKind.String ? nm.GetString() : null,
                        num,
                        p.TryGetProperty("protocol", out var pr) && pr.ValueKind == JsonValueKind.String ? pr.GetString() : null));
                }
                else
                {
                    return (null, "ports must be port numbers or {name, port, protocol} objects");
                }
            }

            ports = list.ToImmutable();
        }

        ImmutableSortedDictionary<string, string>? labels = null;
        if (e.TryGetProperty("labels", out var labelsElement) && labelsElement.ValueKind == JsonValueKind.Object)
        {
            var b = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var l in labelsElement.EnumerateObject())
            {
                if (l.Value.ValueKind != JsonValueKind.String)
                {
                    return (null, $"label {l.Name} must be a string");
                }

                b[l.Name] = l.Value.GetString()!;
            }

            labels = b.ToImmutable();
        }

        var inbound = Str("sidecarInboundAddress");
        if (inbound is not null && !System.Net.IPEndPoint.TryParse(inbound, out _))
        {
            return (null, "sidecarInboundAddress must be ip:port");
        }

        return (new InstanceRegistration
        {
            Id = id,
            Workload = workload,
            Namespace = Str("namespace") ?? "default",
            Address = address,
            Ports = ports,
            Labels = labels,
            ServiceAccount = Str("serviceAccount"),
            Healthy = !e.TryGetProperty("healthy", out var h) || h.ValueKind != JsonValueKind.False,
            SidecarInboundAddress = inbound,
            Sidecar = !e.TryGetProperty("sidecar", out var sc) || sc.ValueKind != JsonValueKind.False,
        }, null);
    }

    public static string Write(InstanceRegistration r)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            Write(w, r);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static void Write(Utf8JsonWriter w, InstanceRegistration r)
    {
        w.WriteStartObject();
        w.WriteString("id", r.Id);
        w.WriteString("workload", r.Workload);
        w.WriteString("namespace", r.Namespace);
        w.WriteString("address", r.Address);
        if (r.Ports is { } ports)
        {
            w.WriteStartArray("ports");
            foreach (var p in ports)
            {
                w.WriteStartObject();
                if (p.Name is not null)
                {
                    w.WriteString("name", p.Name);
                }

                w.WriteNumber("port", p.Port);
                if (p.Protocol is not null)
                {
                    w.WriteString("protocol", p.Protocol);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        if (r.Labels is { } labels)
        {
            w.WriteStartObject("labels");
            foreach (var (k, v) in labels)
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
        }

        if (r.ServiceAccount is not null)
        {
            w.WriteString("serviceAccount", r.ServiceAccount);
        }

        w.WriteBoolean("healthy", r.Healthy);
        if (!r.Sidecar)
        {
            w.WriteBoolean("sidecar", false);
        }

        if (r.SidecarInboundAddress is not null)
        {
            w.WriteString("sidecarInboundAddress", r.SidecarInboundAddress);
        }

        w.WriteEndObject();
    }
}
