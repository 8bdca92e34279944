using Grpc.Core;
using Skein.Xds.Envoy.Service.Discovery.V3;

namespace Skein.ControlPlane.Xds;

/// <summary>
/// <c>envoy.service.discovery.v3.AggregatedDiscoveryService</c> over gRPC: adapts each
/// <c>StreamAggregatedResources</c> call to <see cref="XdsServer"/>. Delta xDS is not served yet
/// (UNIMPLEMENTED, so clients fall back to state of the world).
/// </summary>
internal sealed class AdsService(XdsServer server) : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase
{
    public override Task StreamAggregatedResources(
        IAsyncStreamReader<DiscoveryRequest> requestStream,
        IServerStreamWriter<DiscoveryResponse> responseStream,
        ServerCallContext context) =>
        server.HandleStreamAsync(
            requestStream.ReadAllAsync(context.CancellationToken),
            response => responseStream.WriteAsync(response, context.CancellationToken),
            context.Peer,
            context.CancellationToken);
}
