using System.Net;

namespace Skein.Cli.Local;

/// <summary>
/// Hands out pod addresses from 198.18.0.0/16 in order, from 198.18.1.1 up: 198.18.0.x stays for
/// the host side (the bridge is 198.18.0.1), and no address ends in .0 or .255 so none looks
/// like a network or broadcast address to a person reading them.
/// </summary>
internal static class AddressAllocator
{
    public const string PodNetwork = "198.18.0.0/16";
    public const string VipNetwork = "198.19.0.0/16";

    private const uint PodBase = (198u << 24) | (18u << 16);
    private const uint VipBase = (198u << 24) | (19u << 16);
    private const uint First = PodBase | (1u << 8) | 1u;
    private const uint Last = PodBase | (255u << 8) | 254u;

    /// <summary>The lowest free address after every address in use, so a restarted pod never reuses a recent one.</summary>
    /// <exception cref="InvalidOperationException">The range is exhausted.</exception>
    public static IPAddress Next(IEnumerable<string> inUse)
    {
        var highest = First - 1;
        foreach (var text in inUse)
        {
            if (IPAddress.TryParse(text, out var address) && IsPodAddress(address))
            {
                highest = Math.Max(highest, ToUInt(address));
            }
        }

        for (var candidate = highest + 1; candidate <= Last; candidate++)
        {
            var low = candidate & 0xff;
            if (low is not (0 or 255))
            {
                return FromUInt(candidate);
            }
        }

        throw new InvalidOperationException($"no pod addresses left in {PodNetwork}");
    }

    /// <summary>True for 198.18.0.0/16.</summary>
    public static bool IsPodAddress(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (ToUInt(address) & 0xffff0000u) == PodBase;

    /// <summary>True for 198.19.0.0/16, the only addresses hosts files may name for services.</summary>
    public static bool IsVip(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (ToUInt(address) & 0xffff0000u) == VipBase;

    private static uint ToUInt(IPAddress address)
    {
        var b = address.GetAddressBytes();
        return ((uint)b[0] << 24) | ((uint)b[1] << 16) | ((uint)b[2] << 8) | b[3];
    }

    private static IPAddress FromUInt(uint value) =>
        new([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
}
