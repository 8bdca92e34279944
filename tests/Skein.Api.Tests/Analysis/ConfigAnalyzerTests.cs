using Skein.Api.Analysis;
using Skein.Api.Loading;
using Skein.Api.Validation;

namespace Skein.Api.Tests.Analysis;

public sealed class ConfigAnalyzerTests
{
    private const string Mesh = """
        apiVersion: skein.dev/v1alpha1
        kind: Workload
        metadata: {name: reviews-v1}
        spec: {command: [bookstore], labels: {app: reviews}, version: v1, ports: [{name: http, port: 9080}]}
        ---
        apiVersion: skein.dev/v1alpha1
        kind: Workload
        metadata: {name: reviews-v2}
        spec: {command: [bookstore], labels: {app: reviews}, version: v2, ports: [{name: http, port: 9080}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: reviews}
        spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          host: reviews
          subsets:
            - {name: v1, labels: {version: v1}}
            - {name: v2, labels: {version: v2}}
        ---

        """;

    private static AnalysisReport Analyze(string extra) =>
        ConfigAnalyzer.Analyze(ConfigLoader.LoadText(Mesh + extra, "mesh.yaml"));

    private static string Line(AnalysisReport report, string code) =>
        Assert.Single(report.Diagnostics, d => d.Code == code).ToString();

    [Fact]
    public void Analyze_CleanCanary_NoFindings()
    {
        var report = Analyze("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
                - route:
                    - {destination: {host: reviews, subset: v1}, weight: 90}
                    - {destination: {host: reviews, subset: v2}, weight: 10}
            """);

        Assert.Empty(report.Diagnostics);
        Assert.Equal(5, report.ResourceCount);
    }

    [Fact]
    public void Analyze_SubsetNotDefined_ErrorAtSubset()
    {
        var report = Analyze("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
                - route:
                    - destination:
                        host: reviews
                        subset: v3
            """);

        Assert.Equal("mesh.yaml:34:21 spec.http[0].route[0].destination.subset: subset \"v3\" is not defined by any DestinationRule for reviews.default.svc.cluster.local",
            Line(report, DiagnosticCodes.SubsetNotDefined));
        Assert.True(report.HasErrors);
    }

    [Fact]
    public void Analyze_WeightsNotHundred_Warning()
    {
        var report = Analyze("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
                - route:
                    - {destination: {host: reviews, subset: v1}, weight: 90}
                    - {destination: {host: reviews, subset: v2}, weight: 20}
            """);

        var finding = Assert.Single(report.Diagnostics);
        Assert.Equal((Severity.Warning, DiagnosticCodes.WeightsNotHundred), (finding.Severity, finding.Code));
        Assert.Contains("weights sum to 110, not 100", finding.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_HostWithoutService_ErrorNamesFqdn()
    {
        var report = Analyze("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: details}
            spec:
              hosts: [details]
              http:
                - route:
                    - destination: {host: details}
            """);

        Assert.Contains("host details.default.svc.cluster.local matches no Service or ServiceEntry", Line(report, DiagnosticCodes.HostNotFound), StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_TwoVirtualServicesSameHost_ConflictError()
    {
        var vs = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: NAME}
            spec:
              hosts: [reviews.default.svc.cluster.local]
              http:
                - route:
                    - destination: {host: reviews}
            ---

            """;
        var report = Analyze(vs.Replace("NAME", "a", StringComparison.Ordinal) + vs.Replace("NAME", "b", StringComparison.Ordinal));

        Assert.Contains("is also routed by VirtualService default/a", Line(report, DiagnosticCodes.ConflictingVirtualServices), StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_AuthorizationSelectorMatchesNothing_Warning()
    {
        var report = Analyze("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: ratings}
            spec:
              selector: {matchLabels: {app: ratings}}
              rules: [{}]
            """);

        Assert.Contains("selector {app: ratings} matches no workload in namespace default", Line(report, DiagnosticCodes.SelectorMatchesNothing), StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_StrictPeerAuthenticationWithTlsDisabled_Error()
    {
        var report = Analyze("""
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: default, namespace: istio-system}
            spec: {mtls: {mode: STRICT}}
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews-plain}
            spec:
              host: reviews
              trafficPolicy: {tls: {mode: DISABLE}}
            """);

        Assert.Contains("tls mode DISABLE sends plaintext to Workload default/reviews-v1", Line(report, DiagnosticCodes.MtlsConflict), StringComparison.Ordinal);
        Assert.Contains(report.Diagnostics, d => d.Code == DiagnosticCodes.ConflictingDestinationRules);
    }

    [Fact]
    public void Analyze_NamespacePermissiveOverridesMeshStrict_NoMtlsConflict()
    {
        var report = Analyze("""
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: default, namespace: istio-system}
            spec: {mtls: {mode: STRICT}}
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: default}
            spec: {mtls: {mode: PERMISSIVE}}
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: other, namespace: default}
            spec:
              host: reviews.default.svc.cluster.local
              workloadSelector: {matchLabels: {app: frontend}}
              trafficPolicy: {tls: {mode: DISABLE}}
            """);

        Assert.DoesNotContain(report.Diagnostics, d => d.Code == DiagnosticCodes.MtlsConflict);
    }

    [Fact]
    public void Analyze_DuplicateSubsets_ErrorWithStableCode()
    {
        var report = ConfigAnalyzer.Analyze(ConfigLoader.LoadText("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews}
            spec:
              host: reviews
              subsets:
                - {name: v1, labels: {version: v1}}
                - {name: v1, labels: {version: v2}}
            """, "dr.yaml"));

        Assert.Contains("duplicate subset name \"v1\"", Line(report, DiagnosticCodes.DuplicateSubset), StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_PortNotExposed_ErrorListsPorts()
    {
        var report = Analyze("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
                - route:
                    - destination: {host: reviews, port: {number: 9090}}
            """);

        Assert.Contains("port 9090 is not exposed by Service default/reviews (ports: 9080)", Line(report, DiagnosticCodes.PortNotExposed), StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_UnsupportedFieldAndCustomAction_Warnings()
    {
        var report = Analyze("""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: ext}
            spec:
              action: CUSTOM
              provider: {name: opa}
              rules: [{to: [{operation: {paths: ["/admin"]}}]}]
            """);

        var unsupported = report.Diagnostics.Where(d => d.Code == DiagnosticCodes.NotSupported && d.Severity == Severity.Warning).ToList();
        Assert.Contains(unsupported, d => d.Path == "spec.provider");
        Assert.Contains(unsupported, d => d.Message.StartsWith("action CUSTOM", StringComparison.Ordinal));
        Assert.False(report.HasErrors);
    }

    [Fact]
    public void Analyze_DuplicateResource_ErrorPointsAtFirst()
    {
        var report = Analyze("""
            apiVersion: v1
            kind: Service
            metadata: {name: reviews}
            spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
            """);

        Assert.Contains("Service default/reviews is defined twice (first at mesh.yaml:11:1)", Line(report, DiagnosticCodes.DuplicateResource), StringComparison.Ordinal);
    }
}
