using System.Net;
using Skein.Cli.Local;

namespace Skein.Cli.Tests.Local;

public sealed class AddressAllocatorTests
{
    [Fact]
    public void Next_NothingInUse_First()
    {
        Assert.Equal("198.18.1.1", AddressAllocator.Next([]).ToString());
    }

    [Fact]
    public void Next_SomeInUse_AfterHighest()
    {
        Assert.Equal("198.18.1.4", AddressAllocator.Next(["198.18.1.1", "198.18.1.3", "198.18.1.2"]).ToString());
    }

    [Fact]
    public void Next_GapBelowHighest_NotReused()
    {
        Assert.Equal("198.18.1.6", AddressAllocator.Next(["198.18.1.1", "198.18.1.5"]).ToString());
    }

    [Fact]
    public void Next_EndOfOctet_SkipsBroadcastAndZero()
    {
        Assert.Equal("198.18.2.1", AddressAllocator.Next(["198.18.1.254"]).ToString());
    }

    [Fact]
    public void Next_ForeignAddressesInUse_Ignored()
    {
        Assert.Equal("198.18.1.1", AddressAllocator.Next(["10.0.0.7", "198.19.0.10", "not an address"]).ToString());
    }

    [Fact]
    public void Next_RangeExhausted_Throws()
    {
        Assert.Throws<InvalidOperationException>(() => AddressAllocator.Next(["198.18.255.254"]));
    }

    [Fact]
    public void Next_ManyPods_AllInPodRangeAndDistinct()
    {
        var used = new List<string>();
        for (var i = 0; i < 600; i++)
        {
            var next = AddressAllocator.Next(used);
            Assert.True(AddressAllocator.IsPodAddress(next));
            Assert.NotEqual(0, next.GetAddressBytes()[3]);
            Assert.NotEqual(255, next.GetAddressBytes()[3]);
            used.Add(next.ToString());
        }

        Assert.Equal(used.Count, used.Distinct().Count());
    }

    [Theory]
    [InlineData("198.19.0.10", true)]
    [InlineData("198.18.0.10", false)]
    [InlineData("10.96.0.1", false)]
    public void IsVip_Addresses_OnlyBenchmarkingRange(string address, bool expected)
    {
        Assert.Equal(expected, AddressAllocator.IsVip(IPAddress.Parse(address)));
    }
}
