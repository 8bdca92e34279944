using System.Diagnostics;

namespace Skein.Proxy.Tests.Infrastructure;

/// <summary>
/// A fact that needs root and network namespaces (<c>ip netns</c>) with iptables. xunit 2 has no dynamic skip,
/// so the attribute sets <see cref="FactAttribute.Skip"/> with the reason when the machine lacks them.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RootNetnsFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Reason = new(Check);

    public RootNetnsFactAttribute()
    {
        if (Reason.Value is { } reason)
        {
            Skip = reason;
        }
    }

    private static string? Check()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "needs Linux network namespaces";
        }

        if (Environment.UserName != "root" && (Run("id", "-u") ?? string.Empty).Trim() != "0")
        {
            return "needs root (network namespaces and iptables)";
        }

        if (Run("ip", "netns list") is null)
        {
            return "`ip netns` is unavailable (install iproute2)";
        }

        if (Run("iptables", "--version") is null)
        {
            return "iptables is unavailable (install iptables)";
        }

        return null;
    }

    private static string? Run(string file, string args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true });
            var output = p!.StandardOutput.ReadToEnd();
            p.WaitForExit(5000);
            return p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
