using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

public sealed class FirewallTests
{
    [Fact]
    public void RenderPodRules_DefaultPorts_IstioStyleNatTable()
    {
        var rules = Firewall.RenderPodRules(ProxyPorts.Default);

        Assert.Equal("""
            *nat
            :SKEIN_INBOUND - [0:0]
            :SKEIN_IN_REDIRECT - [0:0]
            :SKEIN_OUTPUT - [0:0]
            :SKEIN_REDIRECT - [0:0]
            -A PREROUTING -p tcp -j SKEIN_INBOUND
            -A OUTPUT -p tcp -j SKEIN_OUTPUT
            -A SKEIN_INBOUND -p tcp --dport 15000:15099 -j RETURN
            -A SKEIN_INBOUND -i eth0 -p tcp -j SKEIN_IN_REDIRECT
            -A SKEIN_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
            -A SKEIN_OUTPUT -m owner --uid-owner 1337 -j RETURN
            -A SKEIN_OUTPUT -m owner --gid-owner 1337 -j RETURN
            -A SKEIN_OUTPUT -d 127.0.0.1/32 -j RETURN
            -A SKEIN_OUTPUT -o lo -j RETURN
            -A SKEIN_OUTPUT -j SKEIN_REDIRECT
            -A SKEIN_REDIRECT -p tcp -j REDIRECT --to-ports 15001
            COMMIT

            """.ReplaceLineEndings("\n"), rules);
    }

    [Fact]
    public void RenderPodRules_OtherPorts_RedirectsToThem()
    {
        var rules = Firewall.RenderPodRules(new ProxyPorts(25001, 25006, 25000, 25090, 25021), proxyUid: 2000);

        Assert.Contains("-A SKEIN_REDIRECT -p tcp -j REDIRECT --to-ports 25001\n", rules, StringComparison.Ordinal);
        Assert.Contains("-A SKEIN_IN_REDIRECT -p tcp -j REDIRECT --to-ports 25006\n", rules, StringComparison.Ordinal);
        Assert.Contains("--uid-owner 2000 -j RETURN", rules, StringComparison.Ordinal);
    }

    [Fact]
    public void RootRules_Default_AllTaggedWithSkeinComment()
    {
        foreach (var rule in Firewall.RootRules())
        {
            var comment = rule.Spec.ToList().IndexOf("--comment");
            Assert.True(comment > 0);
            Assert.Equal("skein", rule.Spec[comment + 1]);
        }

        Assert.Contains(Firewall.RootRules(), r => r.Chain == "FORWARD" && r.Spec.SequenceEqual(["-i", "skein0", "-o", "skein0", "-m", "comment", "--comment", "skein", "-j", "ACCEPT"]));
    }

    [Fact]
    public void InsertAndDeleteArgs_Rule_TopOfChainAndExactDelete()
    {
        var rule = Firewall.RootRules()[0];

        Assert.Equal(["-w", "-t", "filter", "-I", "FORWARD", "1", .. rule.Spec], Firewall.InsertArgs(rule));
        Assert.Equal(["-w", "-t", "filter", "-D", "FORWARD", .. rule.Spec], Firewall.DeleteArgs(rule));
        Assert.Equal(["-w", "-t", "filter", "-C", "FORWARD", .. rule.Spec], Firewall.CheckArgs(rule));
    }

    [Fact]
    public void SweepDeleteArgs_Listing_OnlyRulesWithSkeinComment()
    {
        const string listing = """
            -P INPUT ACCEPT
            -P FORWARD DROP
            -N DOCKER
            -A INPUT -i skein0 -m comment --comment skein -j ACCEPT
            -A FORWARD -i skein0 -o skein0 -m comment --comment "skein" -j ACCEPT
            -A FORWARD -o docker0 -j DOCKER
            -A FORWARD -m comment --comment "skein is great" -j ACCEPT
            -A FORWARD -m comment --comment skeinx -j ACCEPT
            """;

        var deletes = Firewall.SweepDeleteArgs("filter", listing);

        Assert.Equal(2, deletes.Count);
        Assert.Equal(["-w", "-t", "filter", "-D", "INPUT", "-i", "skein0", "-m", "comment", "--comment", "skein", "-j", "ACCEPT"], deletes[0]);
        Assert.Equal(["-w", "-t", "filter", "-D", "FORWARD", "-i", "skein0", "-o", "skein0", "-m", "comment", "--comment", "skein", "-j", "ACCEPT"], deletes[1]);
    }

    [Fact]
    public void SplitRule_QuotedComment_OneWord()
    {
        Assert.Equal(["-A", "X", "--comment", "a b", "-j", "ACCEPT"], Firewall.SplitRule("-A X --comment \"a b\" -j ACCEPT"));
    }
}
