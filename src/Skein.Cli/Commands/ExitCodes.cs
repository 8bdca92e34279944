namespace Skein.Cli.Commands;

/// <summary>Shell-friendly exit codes, the same for every verb.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command ran and found errors (invalid config, failed check).</summary>
    public const int Errors = 1;

    /// <summary>Only warnings were found and the caller asked to fail on them.</summary>
    public const int Warnings = 2;

    /// <summary>The command could not run: bad arguments, unreachable control plane.</summary>
    public const int Usage = 64;
}
