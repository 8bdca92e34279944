using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Skein.Xds.Envoy.Config.Cluster.V3;
using Skein.Xds.Envoy.Config.Core.V3;
using Skein.Xds.Envoy.Config.Endpoint.V3;
using Skein.Xds.Envoy.Config.Listener.V3;
using Skein.Xds.Envoy.Config.Rbac.V3;
using Skein.Xds.Envoy.Config.Route.V3;
using Skein.Xds.Envoy.Extensions.Filters.Http.Fault.V3;
using Skein.Xds.Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Skein.Xds.Envoy.Extensions.TransportSockets.Tls.V3;
using Skein.Xds.Envoy.Service.Discovery.V3;
using Skein.Xds.Envoy.Type.Matcher.V3;
using RpcStatus = Skein.Xds.GoogleRpc.Status;

namespace Skein.Xds.Tests;

/// <summary>
/// The field numbers are the wire contract with every xDS client: these tests encode messages with a
/// single field set and read the raw tag back, so a wrong number in a .proto fails here.
/// </summary>
public sealed class WireFormatTests
{
    public static TheoryData<string, IMessage, int, WireFormat.WireType> SingleFieldMessages => new()
    {
        { "DiscoveryRequest.version_info", new DiscoveryRequest { VersionInfo = "1" }, 1, WireFormat.WireType.LengthDelimited },
        { "DiscoveryRequest.node", new DiscoveryRequest { Node = new Node() }, 2, WireFormat.WireType.LengthDelimited },
        { "DiscoveryRequest.resource_names", new DiscoveryRequest { ResourceNames = { "a" } }, 3, WireFormat.WireType.LengthDelimited },
        { "DiscoveryRequest.type_url", new DiscoveryRequest { TypeUrl = TypeUrls.Listener }, 4, WireFormat.WireType.LengthDelimited },
        { "DiscoveryRequest.response_nonce", new DiscoveryRequest { ResponseNonce = "n" }, 5, WireFormat.WireType.LengthDelimited },
        { "DiscoveryRequest.error_detail", new DiscoveryRequest { ErrorDetail = new RpcStatus() }, 6, WireFormat.WireType.LengthDelimited },
        { "DiscoveryResponse.version_info", new DiscoveryResponse { VersionInfo = "1" }, 1, WireFormat.WireType.LengthDelimited },
        { "DiscoveryResponse.resources", new DiscoveryResponse { Resources = { new Any() } }, 2, WireFormat.WireType.LengthDelimited },
        { "DiscoveryResponse.type_url", new DiscoveryResponse { TypeUrl = TypeUrls.Cluster }, 4, WireFormat.WireType.LengthDelimited },
        { "DiscoveryResponse.nonce", new DiscoveryResponse { Nonce = "n" }, 5, WireFormat.WireType.LengthDelimited },
        { "DeltaDiscoveryResponse.removed_resources", new DeltaDiscoveryResponse { RemovedResources = { "x" } }, 6, WireFormat.WireType.LengthDelimited },
        { "Status.message", new RpcStatus { Message = "bad" }, 2, WireFormat.WireType.LengthDelimited },
        { "Node.user_agent_name", new Node { UserAgentName = "grpc-node-js" }, 6, WireFormat.WireType.LengthDelimited },
        { "Node.client_features", new Node { ClientFeatures = { "f" } }, 10, WireFormat.WireType.LengthDelimited },
        { "Listener.use_original_dst", new Listener { UseOriginalDst = true }, 4, WireFormat.WireType.LengthDelimited },
        { "Listener.traffic_direction", new Listener { TrafficDirection = TrafficDirection.Outbound }, 16, WireFormat.WireType.Varint },
        { "Listener.api_listener", new Listener { ApiListener = new ApiListener() }, 19, WireFormat.WireType.LengthDelimited },
        { "Listener.default_filter_chain", new Listener { DefaultFilterChain = new FilterChain() }, 25, WireFormat.WireType.LengthDelimited },
        { "ApiListener.api_listener", new ApiListener { ApiListener_ = new Any() }, 1, WireFormat.WireType.LengthDelimited },
        { "FilterChainMatch.destination_port", new FilterChainMatch { DestinationPort = 80 }, 8, WireFormat.WireType.LengthDelimited },
        { "HttpConnectionManager.rds", new HttpConnectionManager { Rds = new Rds() }, 3, WireFormat.WireType.LengthDelimited },
        { "HttpConnectionManager.http_filters", new HttpConnectionManager { HttpFilters = { new HttpFilter() } }, 5, WireFormat.WireType.LengthDelimited },
        { "HttpConnectionManager.common_http_protocol_options", new HttpConnectionManager { CommonHttpProtocolOptions = new HttpProtocolOptions() }, 35, WireFormat.WireType.LengthDelimited },
        { "HttpFilter.typed_config", new HttpFilter { TypedConfig = new Any() }, 4, WireFormat.WireType.LengthDelimited },
        { "RouteAction.max_stream_duration", new RouteAction { MaxStreamDuration = new RouteAction.Types.MaxStreamDuration() }, 36, WireFormat.WireType.LengthDelimited },
        { "RouteAction.request_mirror_policies", new RouteAction { RequestMirrorPolicies = { new RouteAction.Types.RequestMirrorPolicy() } }, 30, WireFormat.WireType.LengthDelimited },
        { "RouteAction.regex_rewrite", new RouteAction { RegexRewrite = new RegexMatchAndSubstitute() }, 32, WireFormat.WireType.LengthDelimited },
        { "Route.name", new Route { Name = "r" }, 14, WireFormat.WireType.LengthDelimited },
        { "Route.typed_per_filter_config", new Route { TypedPerFilterConfig = { ["f"] = new Any() } }, 13, WireFormat.WireType.LengthDelimited },
        { "HeaderMatcher.exact_match", new HeaderMatcher { ExactMatch = "x" }, 4, WireFormat.WireType.LengthDelimited },
        { "HeaderMatcher.safe_regex_match", new HeaderMatcher { SafeRegexMatch = new RegexMatcher() }, 11, WireFormat.WireType.LengthDelimited },
        { "HeaderMatcher.present_match", new HeaderMatcher { PresentMatch = true }, 7, WireFormat.WireType.Varint },
        { "HeaderMatcher.string_match", new HeaderMatcher { StringMatch = new StringMatcher() }, 13, WireFormat.WireType.LengthDelimited },
        { "StringMatcher.contains", new StringMatcher { Contains = "x" }, 7, WireFormat.WireType.LengthDelimited },
        { "HeaderValueOption.append_action", new HeaderValueOption { AppendAction = HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd }, 3, WireFormat.WireType.Varint },
        { "Cluster.type (STATIC still on the wire)", new Cluster { Type = Cluster.Types.DiscoveryType.Static }, 2, WireFormat.WireType.Varint },
        { "Cluster.load_assignment", new Cluster { LoadAssignment = new ClusterLoadAssignment() }, 33, WireFormat.WireType.LengthDelimited },
        { "Cluster.typed_extension_protocol_options", new Cluster { TypedExtensionProtocolOptions = { ["k"] = new Any() } }, 36, WireFormat.WireType.LengthDelimited },
        { "Cluster.maglev_lb_config", new Cluster { MaglevLbConfig = new Cluster.Types.MaglevLbConfig() }, 52, WireFormat.WireType.LengthDelimited },
        { "Cluster.least_request_lb_config", new Cluster { LeastRequestLbConfig = new Cluster.Types.LeastRequestLbConfig() }, 37, WireFormat.WireType.LengthDelimited },
        { "ClusterLoadAssignment.endpoints", new ClusterLoadAssignment { Endpoints = { new LocalityLbEndpoints() } }, 2, WireFormat.WireType.LengthDelimited },
        { "ClusterLoadAssignment.policy", new ClusterLoadAssignment { Policy = new ClusterLoadAssignment.Types.Policy() }, 4, WireFormat.WireType.LengthDelimited },
        { "LocalityLbEndpoints.load_balancing_weight", new LocalityLbEndpoints { LoadBalancingWeight = 1 }, 3, WireFormat.WireType.LengthDelimited },
        { "LocalityLbEndpoints.priority", new LocalityLbEndpoints { Priority = 1 }, 5, WireFormat.WireType.Varint },
        { "FaultAbort.grpc_status", new FaultAbort { GrpcStatus = 14 }, 5, WireFormat.WireType.Varint },
        { "Principal.direct_remote_ip", new Principal { DirectRemoteIp = new CidrRange() }, 10, WireFormat.WireType.LengthDelimited },
        { "Permission.url_path", new Permission { UrlPath = new PathMatcher() }, 10, WireFormat.WireType.LengthDelimited },
        { "Secret.validation_context", new Secret { ValidationContext = new CertificateValidationContext() }, 4, WireFormat.WireType.LengthDelimited },
        { "CommonTlsContext.combined_validation_context", new CommonTlsContext { CombinedValidationContext = new CommonTlsContext.Types.CombinedCertificateValidationContext() }, 8, WireFormat.WireType.LengthDelimited },
        { "CertificateValidationContext.match_typed_subject_alt_names", new CertificateValidationContext { MatchTypedSubjectAltNames = { new SubjectAltNameMatcher() } }, 15, WireFormat.WireType.LengthDelimited },
    };

    [Theory]
    [MemberData(nameof(SingleFieldMessages))]
    public void ToByteArray_SingleFieldSet_WritesEnvoyFieldNumber(string field, IMessage message, int expectedNumber, WireFormat.WireType expectedWireType)
    {
        var bytes = message.ToByteArray();
        Assert.NotEmpty(bytes);

        var input = new CodedInputStream(bytes);
        var tag = input.ReadTag();

        Assert.True(expectedNumber == WireFormat.GetTagFieldNumber(tag), $"{field}: expected field {expectedNumber}, got {WireFormat.GetTagFieldNumber(tag)}");
        Assert.Equal(expectedWireType, WireFormat.GetTagWireType(tag));
    }

    [Fact]
    public void ToByteArray_DiscoveryRequestNonce_IsExactlyField5String()
    {
        var bytes = new DiscoveryRequest { ResponseNonce = "n" }.ToByteArray();

        // (5 << 3) | 2 = 0x2A, length 1, 'n'.
        Assert.Equal(new byte[] { 0x2A, 0x01, (byte)'n' }, bytes);
    }

    [Fact]
    public void ToByteArray_RouteActionMaxStreamDuration_IsTwoByteTag36()
    {
        var bytes = new RouteAction { MaxStreamDuration = new RouteAction.Types.MaxStreamDuration() }.ToByteArray();

        // (36 << 3) | 2 = 290 = varint A2 02, then length 0.
        Assert.Equal(new byte[] { 0xA2, 0x02, 0x00 }, bytes);
    }

    public static TheoryData<MessageDescriptor, string, int> DescriptorFields => new()
    {
        { SocketAddress.Descriptor, "protocol", 1 },
        { SocketAddress.Descriptor, "address", 2 },
        { SocketAddress.Descriptor, "port_value", 3 },
        { ConfigSource.Descriptor, "ads", 3 },
        { ConfigSource.Descriptor, "resource_api_version", 6 },
        { TransportSocket.Descriptor, "typed_config", 3 },
        { Locality.Descriptor, "sub_zone", 3 },
        { Node.Descriptor, "locality", 4 },
        { Listener.Descriptor, "filter_chains", 3 },
        { Listener.Descriptor, "listener_filters", 9 },
        { FilterChain.Descriptor, "transport_socket", 6 },
        { FilterChain.Descriptor, "name", 7 },
        { FilterChainMatch.Descriptor, "server_names", 11 },
        { FilterChainMatch.Descriptor, "transport_protocol", 9 },
        { FilterChainMatch.Descriptor, "application_protocols", 10 },
        { Filter.Descriptor, "typed_config", 4 },
        { ListenerFilter.Descriptor, "typed_config", 3 },
        { HttpConnectionManager.Descriptor, "route_config", 4 },
        { HttpConnectionManager.Descriptor, "stream_idle_timeout", 24 },
        { HttpConnectionManager.Descriptor, "request_timeout", 28 },
        { HttpConnectionManager.Descriptor, "generate_request_id", 15 },
        { HttpConnectionManager.Descriptor, "forward_client_cert_details", 16 },
        { HttpFilter.Descriptor, "is_optional", 6 },
        { VirtualHost.Descriptor, "request_headers_to_remove", 13 },
        { VirtualHost.Descriptor, "typed_per_filter_config", 15 },
        { VirtualHost.Descriptor, "retry_policy", 16 },
        { RouteMatch.Descriptor, "safe_regex", 10 },
        { RouteMatch.Descriptor, "runtime_fraction", 9 },
        { RouteMatch.Descriptor, "grpc", 8 },
        { RouteAction.Descriptor, "idle_timeout", 24 },
        { RouteAction.Descriptor, "hash_policy", 15 },
        { RouteAction.Descriptor, "cors", 17 },
        { RetryPolicy.Descriptor, "retry_back_off", 8 },
        { RetryPolicy.Descriptor, "retriable_headers", 9 },
        { CorsPolicy.Descriptor, "allow_origin_string_match", 11 },
        { HeaderMatcher.Descriptor, "prefix_match", 9 },
        { HeaderMatcher.Descriptor, "suffix_match", 10 },
        { HeaderMatcher.Descriptor, "range_match", 6 },
        { HeaderMatcher.Descriptor, "invert_match", 8 },
        { QueryParameterMatcher.Descriptor, "string_match", 5 },
        { Cluster.Descriptor, "eds_cluster_config", 3 },
        { Cluster.Descriptor, "lb_policy", 6 },
        { Cluster.Descriptor, "circuit_breakers", 10 },
        { Cluster.Descriptor, "outlier_detection", 19 },
        { Cluster.Descriptor, "ring_hash_lb_config", 23 },
        { Cluster.Descriptor, "transport_socket", 24 },
        { Cluster.Descriptor, "common_lb_config", 27 },
        { Cluster.Descriptor, "upstream_connection_options", 30 },
        { OutlierDetection.Descriptor, "max_ejection_time", 21 },
        { OutlierDetection.Descriptor, "split_external_local_origin_errors", 12 },
        { LbEndpoint.Descriptor, "health_status", 2 },
        { LbEndpoint.Descriptor, "load_balancing_weight", 4 },
        { Endpoint.Descriptor, "hostname", 3 },
        { Envoy.Extensions.Filters.Http.LocalRatelimit.V3.LocalRateLimit.Descriptor, "response_headers_to_add", 6 },
        { Envoy.Extensions.Filters.Network.TcpProxy.V3.TcpProxy.Descriptor, "weighted_clusters", 10 },
        { Envoy.Extensions.Filters.Network.TcpProxy.V3.TcpProxy.Descriptor, "idle_timeout", 8 },
        { Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions.Descriptor, "use_downstream_protocol_config", 4 },
        { DownstreamTlsContext.Descriptor, "require_client_certificate", 2 },
        { CommonTlsContext.Descriptor, "tls_certificate_sds_secret_configs", 6 },
        { CommonTlsContext.Descriptor, "validation_context_sds_secret_config", 7 },
        { CommonTlsContext.Descriptor, "alpn_protocols", 4 },
    };

    [Theory]
    [MemberData(nameof(DescriptorFields))]
    public void FieldNumber_KnownEnvoyField_MatchesEnvoyApi(MessageDescriptor message, string field, int expected)
    {
        var descriptor = message.FindFieldByName(field);

        Assert.NotNull(descriptor);
        Assert.Equal(expected, descriptor.FieldNumber);
    }

    [Fact]
    public void ServiceDescriptor_AggregatedDiscoveryService_MatchesEnvoyNames()
    {
        var service = AdsReflection.Descriptor.Services.Single();

        Assert.Equal("envoy.service.discovery.v3.AggregatedDiscoveryService", service.FullName);

        var sotw = service.FindMethodByName("StreamAggregatedResources");
        Assert.True(sotw.IsClientStreaming && sotw.IsServerStreaming);
        Assert.Equal(DiscoveryRequest.Descriptor, sotw.InputType);
        Assert.Equal(DiscoveryResponse.Descriptor, sotw.OutputType);

        var delta = service.FindMethodByName("DeltaAggregatedResources");
        Assert.True(delta.IsClientStreaming && delta.IsServerStreaming);
        Assert.Equal(DeltaDiscoveryRequest.Descriptor, delta.InputType);
        Assert.Equal(DeltaDiscoveryResponse.Descriptor, delta.OutputType);
    }
}
