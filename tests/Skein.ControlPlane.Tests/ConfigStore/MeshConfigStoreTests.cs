using Microsoft.Extensions.Logging.Abstractions;
using Skein.Api.Loading;
using Skein.Api.Validation;
using Skein.ControlPlane.ConfigStore;
using Skein.ControlPlane.Tests.Translation;

namespace Skein.ControlPlane.Tests.ConfigStore;

public sealed class MeshConfigStoreTests : IDisposable
{
    private const string Canary = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts:
            - reviews
          http:
            - route:
                - destination:
                    host: reviews
                    subset: v1
                  weight: 90
                - destination:
                    host: reviews
                    subset: v2
                  weight: 10
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "skein-store-tests", Guid.NewGuid().ToString("n"));

    private static MeshConfigStore NewStore(DataDirectory? data = null)
    {
        var store = new MeshConfigStore(data ?? DataDirectory.None, NullLogger<MeshConfigStore>.Instance);
        var result = store.ReplaceDirectory(ConfigLoader.LoadText(SimulationTests.Input("bookstore"), "bookstore.yaml"), "config");
        Assert.True(result.Accepted);
        return store;
    }

    [Fact]
    public void Apply_NewResource_CreatedAndVersionIncremented()
    {
        var store = NewStore();
        var before = store.Current.Version;
        ConfigSnapshot? published = null;
        store.Changed += s => published = s;

        var result = store.Apply(Canary, "canary.yaml");

        Assert.True(result.Accepted);
        Assert.Equal(ConfigAction.Created, Assert.Single(result.Changes).Action);
        Assert.Equal(before + 1, store.Current.Version);
        Assert.Same(store.Current, published);
        Assert.Equal(ConfigOrigin.Api, store.Current.OriginOf(new ConfigKey("VirtualService", "default", "reviews")));
    }

    [Fact]
    public void Apply_SameAgain_UnchangedAndSameVersion()
    {
        var store = NewStore();
        store.Apply(Canary, "canary.yaml");
        var version = store.Current.Version;

        var result = store.Apply("# a comment\n" + Canary, "other-name.yaml");

        Assert.Equal(ConfigAction.Unchanged, Assert.Single(result.Changes).Action);
        Assert.Equal(version, store.Current.Version);
    }

    [Fact]
    public void Apply_ChangedWeight_Configured()
    {
        var store = NewStore();
        store.Apply(Canary, "canary.yaml");

        var result = store.Apply(Canary.Replace("90", "80", StringComparison.Ordinal).Replace("10", "20", StringComparison.Ordinal), "canary.yaml");

        Assert.Equal(ConfigAction.Configured, Assert.Single(result.Changes).Action);
    }

    [Fact]
    public void Apply_WeightOver100_RejectedWithPositionAndNothingApplied()
    {
        var store = NewStore();
        var before = store.Current;

        var result = store.Apply(Canary.Replace("weight: 90", "weight: 150", StringComparison.Ordinal), "canary.yaml");

        Assert.False(result.Accepted);
        Assert.Empty(result.Changes);
        var error = Assert.Single(result.Diagnostics, d => d.Severity == Severity.Error);
        Assert.Equal("canary.yaml:13:19 spec.http[0].route[0].weight: must be between 0 and 100", error.ToString());
        Assert.Same(before, store.Current);
    }

    [Fact]
    public void Apply_SubsetNotDefined_RejectedWithAnalyzerError()
    {
        var store = NewStore();

        var result = store.Apply(Canary.Replace("subset: v2", "subset: v9", StringComparison.Ordinal), "canary.yaml");

        Assert.False(result.Accepted);
        Assert.Contains(result.Diagnostics, d => d.Code == DiagnosticCodes.SubsetNotDefined && d.Location!.Line == 16);
    }

    [Fact]
    public void Apply_ManyDocumentsOneBad_NothingApplied()
    {
        var store = NewStore();
        var before = store.Current;

        var result = store.Apply("""
            apiVersion: skein.dev/v1alpha1
            kind: RateLimit
            metadata: {name: ok}
            spec: {service: ratings, requestsPerUnit: 5, unit: SECOND}
            ---
            apiVersion: skein.dev/v1alpha1
            kind: RateLimit
            metadata: {name: bad}
            spec: {service: ratings, requestsPerUnit: 0, unit: SECOND}
            """, "limits.yaml");

        Assert.False(result.Accepted);
        Assert.Same(before, store.Current);
    }

    [Fact]
    public void Apply_UnsupportedField_AcceptedWithSk0110Warning()
    {
        var store = NewStore();

        var result = store.Apply("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: ratings}
            spec:
              host: ratings
              trafficPolicy:
                loadBalancer:
                  simple: LEAST_REQUEST
                  warmupDurationSecs: 30s
            """, "ratings-dr.yaml");

        Assert.True(result.Accepted);
        var warning = Assert.Single(result.Diagnostics, d => d.Code == DiagnosticCodes.NotSupported);
        Assert.Equal("spec.trafficPolicy.loadBalancer.warmupDurationSecs", warning.Path);
    }

    [Fact]
    public void Delete_AppliedResource_DeletedThenNotFound()
    {
        var store = NewStore();
        store.Apply(Canary, "canary.yaml");

        var deleted = store.Delete(Canary, "canary.yaml");
        var again = store.Delete(Canary, "canary.yaml");

        Assert.Equal(ConfigAction.Deleted, Assert.Single(deleted.Changes).Action);
        Assert.Equal(ConfigAction.NotFound, Assert.Single(again.Changes).Action);
        Assert.DoesNotContain(store.Current.Resources, r => r.Kind == "VirtualService");
    }

    [Fact]
    public void Delete_SubsetStillRouted_Rejected()
    {
        var store = NewStore();
        var drYaml = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews-v4}
            spec: {host: reviews, subsets: [{name: v4, labels: {version: v4}}]}
            """;
        Assert.True(store.Apply(drYaml, "dr.yaml").Accepted);
        Assert.True(store.Apply(Canary.Replace("subset: v2", "subset: v4", StringComparison.Ordinal), "canary.yaml").Accepted);
        var before = store.Current;

        var result = store.Delete(drYaml, "dr.yaml");

        Assert.False(result.Accepted);
        Assert.Contains(result.Diagnostics, d => d.Code == DiagnosticCodes.SubsetNotDefined);
        Assert.Same(before, store.Current);
    }

    [Fact]
    public void Delete_ResourceFromDirectory_RefusedWithItsFile()
    {
        var store = NewStore();

        var result = store.Delete("""
            apiVersion: v1
            kind: Service
            metadata: {name: catalog}
            spec: {selector: {app: catalog}, ports: [{name: http, port: 9080}]}
            """, "svc.yaml");

        Assert.False(result.Accepted);
        Assert.Contains("bookstore.yaml", Assert.Single(result.Diagnostics).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReplaceDirectory_WithError_KeepsLastGoodConfig()
    {
        var store = NewStore();
        var before = store.Current;

        var result = store.ReplaceDirectory(ConfigLoader.LoadText(Canary.Replace("weight: 90", "weight: 150", StringComparison.Ordinal), "bad.yaml"), "config");

        Assert.False(result.Accepted);
        Assert.Same(before, store.Current);
        Assert.NotEmpty(store.DirectoryErrors);
    }

    [Fact]
    public void LoadPersisted_AfterApplyWithDataDirectory_RestoresApiLayer()
    {
        var data = new DataDirectory(_dir);
        var store = NewStore(data);
        store.Apply(Canary, "canary.yaml");

        var restarted = new MeshConfigStore(data, NullLogger<MeshConfigStore>.Instance);
        restarted.LoadPersisted(0);

        var vs = Assert.Single(restarted.Current.ApiLayer.Values);
        Assert.Equal("reviews", vs.Name);
        Assert.True(MeshConfigStore.SameContent(vs, store.Current.ApiLayer.Values.Single()));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
