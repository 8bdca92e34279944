using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Skein.Cli.Local;

/// <summary>
/// Loopback mode runs every pod on 127.0.0.1, so each needs its own ports. Pod k gets the block
/// of ten ports from 21000 + 10k (blocks with a port already in use are skipped): admin +0,
/// outbound +1, health +2, the app's ports +3..+5, inbound +6, stats +9.
/// </summary>
internal static class LoopbackPorts
{
    public const int FirstBlock = 21000;
    public const int BlockSize = 10;
    public const int MaxAppPorts = 3;

    /// <summary>The ports of the pod in the given block, mapping its declared app ports in order.</summary>
    public static ProxyPorts ForBlock(int block, IReadOnlyList<int> appPorts)
    {
        if (appPorts.Count > MaxAppPorts)
        {
            throw new LocalRuntimeException($"loopback mode runs at most {MaxAppPorts} ports per workload; this one declares {appPorts.Count}");
        }

        var b = FirstBlock + (BlockSize * block);
        var map = new Dictionary<int, int>();
        for (var i = 0; i < appPorts.Count; i++)
        {
            map[appPorts[i]] = b + 3 + i;
        }

        return new ProxyPorts(Outbound: b + 1, Inbound: b + 6, Admin: b, Stats: b + 9, Health: b + 2) { AppPorts = map };
    }

    /// <summary>The next block at or after <paramref name="start"/> whose ports are all free on this host.</summary>
    public static int NextFreeBlock(int start, Func<int, bool>? isFree = null)
    {
        isFree ??= IsFree;
        for (var block = start; FirstBlock + (BlockSize * (block + 1)) <= 65535; block++)
        {
            var first = FirstBlock + (BlockSize * block);
            if (Enumerable.Range(first, BlockSize).All(isFree))
            {
                return block;
            }
        }

        throw new LocalRuntimeException("no free block of loopback ports left above 21000");
    }

    /// <summary>
    /// The app's command with its declared port replaced by the one it gets in loopback mode:
    /// "--port 9080", "--port=9080", "-p 9080" (apps should also honour $PORT, which is set too).
    /// </summary>
    public static IReadOnlyList<string> RewriteCommand(IReadOnlyList<string> command, IReadOnlyDictionary<int, int> ports)
    {
        var result = command.ToList();
        for (var i = 1; i < result.Count; i++)
        {
            var arg = result[i];
            if (arg is "--port" or "-p" && i + 1 < result.Count && Map(result[i + 1], ports) is { } next)
            {
                result[++i] = next;
            }
            else if (arg.StartsWith("--port=", StringComparison.Ordinal) && Map(arg["--port=".Length..], ports) is { } inline)
            {
                result[i] = "--port=" + inline;
            }
        }

        return result;
    }

    private static string? Map(string value, IReadOnlyDictionary<int, int> ports) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && ports.TryGetValue(port, out var real)
            ? real.ToString(CultureInfo.InvariantCulture)
            : null;

    private static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Any, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
