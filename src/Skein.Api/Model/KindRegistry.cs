namespace Skein.Api.Model;

/// <summary>One kind Skein reads, with every apiVersion it is served under.</summary>
public sealed record KindInfo(string Group, IReadOnlyList<string> Versions, string Kind, Type Type)
{
    public IEnumerable<string> ApiVersions =>
        Versions.Select(v => Group.Length == 0 ? v : $"{Group}/{v}");
}

/// <summary>The kinds of DESIGN.md section 3, looked up by apiVersion and kind.</summary>
public static class KindRegistry
{
    private static readonly string[] IstioNetworking = ["v1", "v1beta1", "v1alpha3"];
    private static readonly string[] IstioSecurity = ["v1", "v1beta1"];
    private static readonly string[] Skein = ["v1alpha1"];

    public static IReadOnlyList<KindInfo> All { get; } =
    [
        new("networking.istio.io", IstioNetworking, "VirtualService", typeof(VirtualService)),
        new("networking.istio.io", IstioNetworking, "DestinationRule", typeof(DestinationRule)),
        new("networking.istio.io", IstioNetworking, "ServiceEntry", typeof(ServiceEntry)),
        new("networking.istio.io", IstioNetworking, "WorkloadEntry", typeof(WorkloadEntry)),
        new("security.istio.io", IstioSecurity, "AuthorizationPolicy", typeof(AuthorizationPolicy)),
        new("security.istio.io", IstioSecurity, "PeerAuthentication", typeof(PeerAuthentication)),
        new("", ["v1"], "Service", typeof(Service)),
        new("skein.dev", Skein, "Workload", typeof(Workload)),
        new("skein.dev", Skein, "RateLimit", typeof(RateLimit)),
    ];

    public static KindInfo? Find(string apiVersion, string kind)
    {
        foreach (var info in All)
        {
            if (info.Kind == kind && info.ApiVersions.Contains(apiVersion))
            {
                return info;
            }
        }

        return null;
    }

    public static KindInfo? FindKind(string kind) => All.FirstOrDefault(k => k.Kind == kind);
}
