using System.Net;
using System.Net.Sockets;

namespace Skein.Cli.Local;

/// <summary>
/// Creates sockets inside a pod's network namespace without spawning a process: a short-lived
/// thread enters the namespace, creates the socket and returns. A socket belongs to the
/// namespace it was created in for its whole life, so it can then be used from any thread.
/// </summary>
internal static class NetnsSocket
{
    public static string NetnsPath(string netns) => Path.Combine("/var/run/netns", netns);

    /// <summary>A TCP socket in the named network namespace.</summary>
    public static Socket CreateTcp(string netns, AddressFamily family = AddressFamily.InterNetwork)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            var original = -1;
            var target = -1;
            try
            {
                original = Native.OpenNamespace("/proc/thread-self/ns/net");
                target = Native.OpenNamespace(NetnsPath(netns));
                Native.SetNetns(target);
                try
                {
                    socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
                }
                finally
                {
                    try
                    {
                        Native.SetNetns(original);
                    }
                    catch (IOException ex)
                    {
                        // A thread stuck in another namespace must not go back to a pool: there is none here, but be loud.
                        Environment.FailFast("could not return to the original network namespace", ex);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                error = ex;
            }
            finally
            {
                if (target >= 0)
                {
                    Native.Close(target);
                }

                if (original >= 0)
                {
                    Native.Close(original);
                }
            }
        })
        {
            IsBackground = true,
            Name = "skein-netns",
        };
        thread.Start();
        thread.Join();
        return socket ?? throw new IOException($"cannot create a socket in network namespace {netns}: {error?.Message}", error);
    }

    /// <summary>Connects from inside the namespace; true when something accepted the connection.</summary>
    public static async Task<bool> CanConnectAsync(string netns, IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancel)
    {
        using var socket = CreateTcp(netns, endpoint.AddressFamily);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endpoint, limit.Token).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>An HttpClient whose connections are made inside the namespace (health checks of a pod's app).</summary>
    public static HttpClient CreateHttpClient(string netns, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.Zero,
            ConnectCallback = async (context, cancel) =>
            {
                var addresses = IPAddress.TryParse(context.DnsEndPoint.Host, out var ip)
                    ? [ip]
                    : await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancel).ConfigureAwait(false);
                var socket = CreateTcp(netns, addresses[0].AddressFamily);
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(addresses[0], context.DnsEndPoint.Port), cancel).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { Timeout = timeout };
    }
}
