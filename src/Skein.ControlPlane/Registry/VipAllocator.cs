using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Skein.ControlPlane.Registry;

/// <summary>
/// Gives every service a virtual IP from 198.19.0.0/16 (the benchmarking range, never routed). A host's
/// address is derived from a hash of its FQDN, probing upwards on collision, so the same services get the
/// same addresses across restarts; addresses already handed out are kept while the service exists (and
/// across restarts when there is a data directory). An explicit <c>clusterIP</c> or ServiceEntry address wins.
/// </summary>
internal sealed class VipAllocator
{
    /// <summary>The first address of the range (198.19.0.0).</summary>
    private const uint Base = (198u << 24) | (19u << 16);
    private const int Size = 65536;

    private readonly object _gate = new();
    private readonly DataDirectory _data;
    private ImmutableSortedDictionary<string, string> _assigned = ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    public VipAllocator(DataDirectory data)
    {
        _data = data;
        var text = data.Read(DataDirectory.VipsFile);
        if (text is null)
        {
            return;
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            var b = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.GetString() is { } ip && InRange(ip))
                {
                    b[p.Name] = ip;
                }
            }

            _assigned = b.ToImmutable();
        }
        catch (JsonException)
        {
            // A damaged file only costs stability of addresses; they are derived again.
        }
    }

    /// <summary>Assigns addresses to <paramref name="hosts"/> (host → explicit address or null); returns host → VIP.</summary>
    public ImmutableSortedDictionary<string, string> Assign(IEnumerable<KeyValuePair<string, string?>> hosts)
    {
        lock (_gate)
        {
            var wanted = hosts.GroupBy(h => h.Key, StringComparer.Ordinal)
                .Select(g => KeyValuePair.Create(g.Key, g.Select(x => x.Value).FirstOrDefault(v => v is not null)))
                .OrderBy(h => h.Key, StringComparer.Ordinal)
                .ToList();
            var result = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            var used = new HashSet<uint>();

            foreach (var (host, explicitIp) in wanted)
            {
                if (explicitIp is not null)
                {
                    result[host] = explicitIp;
                    if (TryOffset(explicitIp, out var o))
                    {
                        used.Add(o);
                    }
                }
            }

            foreach (var (host, explicitIp) in wanted)
            {
                if (explicitIp is null && _assigned.TryGetValue(host, out var previous) && TryOffset(previous, out var o) && used.Add(o))
                {
                    result[host] = previous;
                }
            }

            foreach (var (host, _) in wanted)
            {
                if (result.ContainsKey(host))
                {
                    continue;
                }

                var offset = Hash(host);
                for (var i = 0; i < Size; i++)
                {
                    var candidate = (uint)((offset + i) % Size);
                    if (candidate is 0 or Size - 1 || !used.Add(candidate))
                    {
                        continue;
                    }

                    result[host] = Format(candidate);
                    break;
                }
            }

            var assigned = result.ToImmutable();
            if (!assigned.SequenceEqual(_assigned))
            {
                _assigned = assigned;
                Persist();
            }

            return assigned;
        }
    }

    private static uint Hash(string host)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(host.ToLowerInvariant()), digest);
        return BinaryPrimitives.ReadUInt32BigEndian(digest) % Size;
    }

    private static string Format(uint offset)
    {
        var ip = Base + offset;
        return string.Create(CultureInfo.InvariantCulture, $"{ip >> 24}.{(ip >> 16) & 0xff}.{(ip >> 8) & 0xff}.{ip & 0xff}");
    }

    private static bool InRange(string ip) => TryOffset(ip, out _);

    private static bool TryOffset(string ip, out uint offset)
    {
        offset = 0;
        if (!IPAddress.TryParse(ip, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return false;
        }

        var value = BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());
        if ((value & 0xffff0000u) != Base)
        {
            return false;
        }

        offset = value & 0xffffu;
        return true;
    }

    private void Persist()
    {
        if (!_data.IsEnabled)
        {
            return;
        }

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            foreach (var (host, ip) in _assigned)
            {
                w.WriteString(host, ip);
            }

            w.WriteEndObject();
        }

        try
        {
            _data.Write(DataDirectory.VipsFile, Encoding.UTF8.GetString(stream.ToArray()));
        }
        catch (IOException)
        {
            // Addresses stay stable within this run; only restart stability is lost.
        }
    }
}
