using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Skein.Interop.Tests.Infrastructure;

/// <summary>One call the Node client made: which instance answered (<c>x-served-by</c>), or how it failed.</summary>
internal sealed record ClientCall(int Number, string Group, bool Ok, string ServedBy, string Error);

/// <summary>What one run of <c>node/client.js</c> did.</summary>
internal sealed record ClientRun(string NodeId, string Target, int ExitCode, IReadOnlyList<ClientCall> Calls, IReadOnlyList<string> OtherOutput, string Trace, string LogFile)
{
    public IEnumerable<ClientCall> Plain => Calls.Where(c => c.Group == NodeClient.PlainGroup);

    public IEnumerable<ClientCall> Jason => Calls.Where(c => c.Group == NodeClient.JasonGroup);

    public IEnumerable<ClientCall> Failed => Calls.Where(c => !c.Ok);
}

/// <summary>
/// The independent xDS client: <c>@grpc/grpc-js-xds</c> installed by <c>npm ci</c> from the committed
/// <c>node/package-lock.json</c>, running <c>node/client.js</c> against a bootstrap file that names skein-control.
/// </summary>
internal static partial class NodeClient
{
    /// <summary>The exit code reported for a client that was killed because it did not finish in time.</summary>
    public const int TimedOut = -1;

    public const string PlainGroup = "plain";
    public const string JasonGroup = "jason";

    public static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);

    /// <summary>grpc-js tracers that show what the client received, accepted and rejected.</summary>
    public const string Tracers = "xds_client,xds_resolver,cds_balancer,xds_cluster_impl,xds_cluster_manager,priority,weighted_target,xds_wrr_locality,fault_injection,http_filter";

    private const string StampName = ".skein-interop-lock.sha256";

    private static readonly SemaphoreSlim InstallGate = new(1, 1);
    private static bool _installed;

    /// <summary>tests/Skein.Interop.Tests/node in the source tree.</summary>
    public static string Directory { get; } = Metadata("Skein.Interop.NodeDirectory");

    /// <summary>samples/bookstore/Protos/ratings.proto in the source tree.</summary>
    public static string RatingsProto { get; } = Metadata("Skein.Interop.RatingsProto");

    /// <summary>
    /// Runs <c>npm ci</c> once per test run, and not at all when <c>node_modules</c> was installed from
    /// this very <c>package-lock.json</c> (a stamp holds its hash), so a machine that installed once
    /// runs the tests offline. Fails with a message saying what is missing when node or the registry is not there.
    /// </summary>
    public static async Task InstallAsync(string logDirectory)
    {
        await InstallGate.WaitAsync();
        try
        {
            if (_installed)
            {
                return;
            }

            var lockFile = Path.Combine(Directory, "package-lock.json");
            if (!File.Exists(lockFile))
            {
                throw new InvalidOperationException($"{lockFile} is missing: the interop test installs exactly the versions it pins");
            }

            var hash = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(lockFile)));
            var stamp = Path.Combine(Directory, "node_modules", StampName);
            if (File.Exists(stamp) && (await File.ReadAllTextAsync(stamp)).Trim() == hash
                && File.Exists(Path.Combine(Directory, "node_modules", "@grpc", "grpc-js-xds", "package.json")))
            {
                _installed = true;
                return;
            }

            await using (var node = ChildProcess.Start("node", "node", ["--version"]))
            {
                if (await node.WaitForExitAsync(TimeSpan.FromSeconds(30)) != 0)
                {
                    throw new InvalidOperationException($"`node --version` failed: {node.Tail(10)}");
                }
            }

            // Proxy variables stay: npm may need them to reach its registry.
            await using var npm = ChildProcess.Start(
                "npm ci",
                "npm",
                ["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--fetch-retries=1", "--fetch-timeout=30000"],
                new Dictionary<string, string?> { ["npm_config_update_notifier"] = "false" },
                workingDirectory: Directory,
                logFile: Path.Combine(logDirectory, "npm-ci.log"));
            int code;
            try
            {
                code = await npm.WaitForExitAsync(InstallTimeout);
            }
            catch (TimeoutException e)
            {
                throw new InvalidOperationException(
                    $"npm ci in {Directory} did not finish within {InstallTimeout.TotalMinutes:0} min; the interop test needs the npm registry "
                    + "to install @grpc/grpc-js-xds (is it reachable? `npm config get registry`, HTTPS_PROXY).", e);
            }

            if (code != 0)
            {
                var output = npm.Tail(40);
                var unreachable = UnreachableRegistry().IsMatch(output);
                throw new InvalidOperationException(
                    (unreachable
                        ? "npm could not reach its registry, so the interop test cannot install @grpc/grpc-js-xds. "
                            + "Make the registry reachable (`npm config get registry`; set HTTPS_PROXY or npm's proxy config if you are behind one) and run again. "
                        : $"npm ci failed (exit code {code}). ")
                    + $"Directory: {Directory}. npm output:\n{output}");
            }

            await File.WriteAllTextAsync(stamp, hash + "\n");
            _installed = true;
        }
        finally
        {
            InstallGate.Release();
        }
    }

    /// <summary>Writes a bootstrap file for a proxyless client with node id <paramref name="nodeId"/> and returns its path.</summary>
    public static string WriteBootstrap(string directory, string nodeId, int xdsPort)
    {
        var bootstrap = new JsonObject
        {
            ["xds_servers"] = new JsonArray(new JsonObject
            {
                ["server_uri"] = $"127.0.0.1:{xdsPort}",
                ["channel_creds"] = new JsonArray(new JsonObject { ["type"] = "insecure" }),
                ["server_features"] = new JsonArray("xds_v3"),
            }),
            ["node"] = new JsonObject
            {
                ["id"] = nodeId,
                ["locality"] = new JsonObject(),
                ["metadata"] = new JsonObject { ["GENERATOR"] = "grpc" },
            },
        };
        var path = Path.Combine(directory, $"bootstrap-{nodeId}.json");
        File.WriteAllText(path, bootstrap.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>Runs the client: <paramref name="plain"/> calls without headers and <paramref name="jason"/> with <c>end-user: jason</c>.</summary>
    public static async Task<ClientRun> RunAsync(string logDirectory, int xdsPort, string target, int plain, int jason, TimeSpan timeout)
    {
        var nodeId = "skein-interop-" + Guid.NewGuid().ToString("N")[..8];
        var bootstrap = WriteBootstrap(logDirectory, nodeId, xdsPort);
        var environment = new Dictionary<string, string?>();
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("GRPC_", StringComparison.Ordinal)))
        {
            environment[key] = null; // no inherited GRPC_XDS_BOOTSTRAP_CONFIG, experimental flags or tracers
        }

        foreach (var key in ChildProcess.ProxyVariables)
        {
            environment[key] = null; // grpc-js honours http_proxy: loopback calls must not go through one
        }

        environment["GRPC_XDS_BOOTSTRAP"] = bootstrap;
        environment["GRPC_TRACE"] = Tracers;
        environment["GRPC_VERBOSITY"] = "DEBUG";
        environment["NODE_OPTIONS"] = null;

        var logFile = Path.Combine(logDirectory, $"client-{nodeId}.log");
        await using var client = ChildProcess.Start(
            $"node client.js ({target})",
            "node",
            [
                Path.Combine(Directory, "client.js"),
                "--target", target,
                "--proto", RatingsProto,
                "--plain", plain.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--jason", jason.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--ready-timeout-ms", "30000",
                "--deadline-ms", "5000",
            ],
            environment,
            workingDirectory: Directory,
            logFile: logFile);
        int exitCode;
        var other = new List<string>();
        try
        {
            exitCode = await client.WaitForExitAsync(timeout);
        }
        catch (TimeoutException)
        {
            exitCode = TimedOut; // killed; what it printed so far still tells where it hung
            other.Add($"(client.js did not finish within {timeout.TotalSeconds:0} s and was killed)");
        }

        var calls = new List<ClientCall>();
        foreach (var line in client.StandardOutput)
        {
            var match = CallLine().Match(line);
            if (!match.Success)
            {
                other.Add(line);
                continue;
            }

            var ok = match.Groups["result"].Value == "ok";
            calls.Add(new ClientCall(
                int.Parse(match.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture),
                match.Groups["group"].Value,
                ok,
                ok ? match.Groups["rest"].Value : "",
                ok ? "" : match.Groups["rest"].Value));
        }

        var trace = client.StandardError;
        return new ClientRun(nodeId, target, exitCode, calls, other, string.Join('\n', trace.Skip(Math.Max(0, trace.Count - 80))), logFile);
    }

    private static string Metadata(string key) =>
        typeof(NodeClient).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
            ?? throw new InvalidOperationException($"assembly metadata {key} is empty");

    [GeneratedRegex(@"^CALL (?<n>\d+) (?<group>plain|jason) (?<result>ok|fail) (?<rest>.*)$")]
    private static partial Regex CallLine();

    [GeneratedRegex(@"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|proxy", RegexOptions.IgnoreCase)]
    private static partial Regex UnreachableRegistry();
}
