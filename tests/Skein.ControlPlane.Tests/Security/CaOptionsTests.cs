namespace Skein.ControlPlane.Tests.Security;

public sealed class CaOptionsTests
{
    [Fact]
    public void Parse_CaFlags_Read()
    {
        var o = ControlPlaneOptions.Parse(["--mtls=false", "--cacerts", "/etc/cacerts", "--workload-cert-ttl", "1h", "--secure-xds-port", "0", "--token-audience", "skein"]);

        Assert.False(o.Mtls);
        Assert.Equal("/etc/cacerts", o.CaCertsDir);
        Assert.Equal(TimeSpan.FromHours(1), o.WorkloadCertTtl);
        Assert.Equal(0, o.SecureXdsPort);
        Assert.Equal("skein", o.TokenAudience);
        Assert.False(ControlPlaneOptions.Parse(["--mtls", "false"]).Mtls);
        Assert.True(ControlPlaneOptions.Parse(["--mtls", "--trust-domain", "x.org"]).Mtls);
    }

    [Theory]
    [InlineData("--ca-cert /a.pem", "--ca-cert, --ca-key and --root-cert go together")]
    [InlineData("--cacerts /d --ca-cert /a --ca-key /k --root-cert /r", "--cacerts and --ca-cert are alternatives; give one")]
    [InlineData("--workload-cert-ttl 0s", "--workload-cert-ttl: must be longer than 0")]
    [InlineData("--workload-cert-ttl 3000h", "--max-workload-cert-ttl must not be shorter than --workload-cert-ttl")]
    [InlineData("--mtls maybe", "unknown option maybe")]
    public void Parse_BadCaFlags_ClearError(string args, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => ControlPlaneOptions.Parse(args.Split(' ')));

        Assert.Equal(message, e.Message);
    }
}
