namespace Skein.Cli.Local;

/// <summary>What `skein up` was asked to run.</summary>
internal sealed record UpRequest
{
    public required IReadOnlyList<Skein.Api.Model.Resource> Resources { get; init; }

    /// <summary>The config files, concatenated and sent to skein-control as they were written.</summary>
    public required IReadOnlyList<string> ConfigFiles { get; init; }

    public required string RunDir { get; init; }

    public bool Loopback { get; init; }

    /// <summary>Wait until every app is ready (sidecars are always awaited: apps start after them).</summary>
    public bool Wait { get; init; } = true;

    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public int XdsPort { get; init; } = 15010;

    /// <summary>skein-control's TLS port: ADS and the certificate service sidecars get their certificates from.</summary>
    public int SecureXdsPort { get; init; } = 15012;

    public int ControlHttpPort { get; init; } = 15014;

    /// <summary>The lifetime sidecars ask the CA for (<c>--cert-ttl</c>); null: the CA's default.</summary>
    public TimeSpan? CertificateLifetime { get; init; }

    public int Parallelism { get; init; } = 4;

    /// <summary>The programs to run; null: <see cref="MeshBinaries.Locate"/>.</summary>
    public MeshBinaries? Binaries { get; init; }
}

/// <summary>The mesh after `skein up`: pods as recorded, and what went wrong.</summary>
/// <param name="Fatal">The mesh itself failed (control plane, config, bridge), not just some pods.</param>
internal sealed record UpResult(RunState State, IReadOnlyList<string> Errors, bool Fatal = false)
{
    public bool Ok => Errors.Count == 0;
}

/// <summary>A condition that stops `skein up` with a message for the user (no stack trace).</summary>
internal sealed class LocalRuntimeException(string message) : Exception(message);
