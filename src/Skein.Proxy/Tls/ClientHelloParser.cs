using System.Buffers;
using System.Text;

namespace Skein.Proxy.Tls;

/// <summary>The outcome of looking at the first bytes of a connection for a TLS ClientHello.</summary>
internal enum ClientHelloResult
{
    NotTls,
    NeedMoreData,
    Parsed,
}

/// <summary>
/// Reads SNI and ALPN out of a TLS ClientHello without consuming it (Envoy's tls_inspector). Only the first
/// handshake record is inspected; a ClientHello split across records yields what the first record holds.
/// </summary>
internal static class ClientHelloParser
{
    private const int MaxRecord = 16 * 1024 + 256;

    public static ClientHelloResult TryParse(ReadOnlySequence<byte> data, out string? serverName, out IReadOnlyList<string> alpn)
    {
        serverName = null;
        alpn = [];
        if (data.Length < 1)
        {
            return ClientHelloResult.NeedMoreData;
        }

        Span<byte> header = stackalloc byte[5];
        if (data.First.Span[0] != 0x16)
        {
            return ClientHelloResult.NotTls;
        }

        if (data.Length < 5)
        {
            return ClientHelloResult.NeedMoreData;
        }

        data.Slice(0, 5).CopyTo(header);
        if (header[1] != 3 || header[2] > 4)
        {
            return ClientHelloResult.NotTls;
        }

        var recordLength = (header[3] << 8) | header[4];
        if (recordLength is 0 or > MaxRecord)
        {
            return ClientHelloResult.NotTls;
        }

        if (data.Length < 5 + recordLength)
        {
            return ClientHelloResult.NeedMoreData;
        }

        var record = new byte[recordLength];
        data.Slice(5, recordLength).CopyTo(record);
        return ParseHandshake(record, out serverName, out alpn) ? ClientHelloResult.Parsed : ClientHelloResult.NotTls;
    }

    private static bool ParseHandshake(ReadOnlySpan<byte> p, out string? serverName, out IReadOnlyList<string> alpn)
    {
        serverName = null;
        alpn = [];
        if (p.Length < 4 || p[0] != 0x01)
        {
            return false; // not a ClientHello
        }

        var pos = 4 + 2 + 32; // handshake header, client_version, random
        if (!Skip8(p, ref pos) || !Skip16(p, ref pos) || !Skip8(p, ref pos))
        {
            return true; // session id, cipher suites, compression methods: truncated hello without extensions
        }

        if (pos + 2 > p.Length)
        {
            return true;
        }

        var extEnd = Math.Min(p.Length, pos + 2 + ((p[pos] << 8) | p[pos + 1]));
        pos += 2;
        var protocols = new List<string>();
        while (pos + 4 <= extEnd)
        {
            var type = (p[pos] << 8) | p[pos + 1];
            var len = (p[pos + 2] << 8) | p[pos + 3];
            pos += 4;
            if (pos + len > extEnd)
            {
                break;
            }

            var ext = p.Slice(pos, len);
            if (type == 0 && ext.Length >= 5 && ext[2] == 0)
            {
                var nameLen = (ext[3] << 8) | ext[4];
                if (5 + nameLen <= ext.Length)
                {
                    serverName = Encoding.ASCII.GetString(ext.Slice(5, nameLen)).ToLowerInvariant();
                }
            }
            else if (type == 16 && ext.Length >= 2)
            {
                var i = 2;
                while (i < ext.Length)
                {
                    var l = ext[i];
                    if (i + 1 + l > ext.Length)
                    {
                        break;
                    }

                    protocols.Add(Encoding.ASCII.GetString(ext.Slice(i + 1, l)));
                    i += 1 + l;
                }
            }

            pos += len;
        }

        alpn = protocols;
        return true;
    }

    private static bool Skip8(ReadOnlySpan<byte> p, ref int pos)
    {
        if (pos + 1 > p.Length)
        {
            return false;
        }

        pos += 1 + p[pos];
        return pos <= p.Length;
    }

    private static bool Skip16(ReadOnlySpan<byte> p, ref int pos)
    {
        if (pos + 2 > p.Length)
        {
            return false;
        }

        pos += 2 + ((p[pos] << 8) | p[pos + 1]);
        return pos <= p.Length;
    }
}
