using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Skein.Proxy.Listeners;

/// <summary>Reads the pre-NAT destination of a connection redirected by iptables (<c>SO_ORIGINAL_DST</c>).</summary>
internal static class OriginalDestination
{
    private const int SolIp = 0;
    private const int SolIpv6 = 41;
    private const int SoOriginalDst = 80; // SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST share the number

    /// <summary>The original destination, or null when the socket was not redirected or the platform lacks the option.</summary>
    public static IPEndPoint? Get(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            var local = socket.LocalEndPoint as IPEndPoint;
            var ipv4 = local is null || local.AddressFamily == AddressFamily.InterNetwork || local.Address.IsIPv4MappedToIPv6;
            Span<byte> buffer = stackalloc byte[28];
            if (ipv4)
            {
                // struct sockaddr_in: family (host order), port (network order), address.
                var n = socket.GetRawSocketOption(SolIp, SoOriginalDst, buffer[..16]);
                if (n < 8)
                {
                    return null;
                }

                var port = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
                return new IPEndPoint(new IPAddress(buffer.Slice(4, 4)), port);
            }
            else
            {
                // struct sockaddr_in6: family, port, flowinfo, address (16), scope id.
                var n = socket.GetRawSocketOption(SolIpv6, SoOriginalDst, buffer);
                if (n < 24)
                {
                    return null;
                }

                var port = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
                var scope = n >= 28 ? BinaryPrimitives.ReadUInt32LittleEndian(buffer[24..]) : 0;
                return new IPEndPoint(new IPAddress(buffer.Slice(8, 16), scope), port);
            }
        }
        catch (SocketException)
        {
            return null; // ENOENT: no NAT entry (not redirected)
        }
    }
}
