using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Skein.Bookstore.Common;

/// <summary>
/// Serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one plaintext port.
/// </summary>
/// <remarks>
/// Kestrel cannot do this by itself: on a cleartext <see cref="HttpProtocols.Http1AndHttp2"/>
/// endpoint it always picks HTTP/1.1, because it chooses by TLS ALPN and never looks at the
/// bytes (it logs "HTTP/2 is not enabled ... TLS is not enabled" at start). This connection
/// middleware peeks at the first bytes without consuming them; when they are the HTTP/2
/// connection preface (RFC 9113 §3.4) it marks the connection the way ALPN "h2" would, and
/// Kestrel's own protocol selection then runs HTTP/2. Kestrel must allow the request's
/// <c>:scheme</c> ("http") to differ from the transport scheme it infers from that mark
/// (<see cref="KestrelServerOptions.AllowAlternateSchemes"/>).
/// </remarks>
internal static class H2cDetection
{
    /// <summary>How long a new connection may stay silent before it is left to Kestrel's HTTP/1.1 timeouts.</summary>
    public static readonly TimeSpan PeekTimeout = TimeSpan.FromSeconds(10);

    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static ListenOptions UseH2cDetection(this ListenOptions listen, TimeProvider time)
    {
        // Http1AndHttp2 is the default; it is left implicit because setting it explicitly on a
        // plaintext endpoint makes Kestrel warn that HTTP/2 is off, which is untrue here.
        listen.KestrelServerOptions.AllowAlternateSchemes = true;
        listen.Use(next => connection => DetectAsync(connection, next, time));
        return listen;
    }

    private static async Task DetectAsync(ConnectionContext connection, ConnectionDelegate next, TimeProvider time)
    {
        if (await StartsWithPrefaceAsync(connection, time))
        {
            connection.Features.Set<ITlsConnectionFeature>(PriorKnowledge.Instance);
            connection.Features.Set<ITlsApplicationProtocolFeature>(PriorKnowledge.Instance);
        }
        await next(connection);
    }

    /// <summary>Reads until the first bytes decide the protocol, then leaves them all unconsumed.</summary>
    internal static async Task<bool> StartsWithPrefaceAsync(ConnectionContext connection, TimeProvider time)
    {
        var input = connection.Transport.Input;
        using var timeout = new CancellationTokenSource(PeekTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, connection.ConnectionClosed);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(linked.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            var buffer = result.Buffer;
            var verdict = Match(buffer);
            if (verdict is not null || result.IsCompleted || result.IsCanceled)
            {
                input.AdvanceTo(buffer.Start);
                return verdict == true;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>True: the preface; false: something else; null: too few bytes to tell.</summary>
    internal static bool? Match(ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, Preface.Length);
        Span<byte> head = stackalloc byte[Preface.Length];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(Preface[..length]))
        {
            return false;
        }
        return length == Preface.Length ? true : null;
    }

    /// <summary>Stands in for ALPN "h2" on a plaintext connection; carries no certificate.</summary>
    private sealed class PriorKnowledge : ITlsConnectionFeature, ITlsApplicationProtocolFeature
    {
        public static readonly PriorKnowledge Instance = new();

        public ReadOnlyMemory<byte> ApplicationProtocol => "h2"u8.ToArray();

        public X509Certificate2? ClientCertificate
        {
            get => null;
            set { }
        }

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) =>
            Task.FromResult<X509Certificate2?>(null);
    }
}
