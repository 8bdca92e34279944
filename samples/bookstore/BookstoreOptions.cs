using System.Globalization;
using System.Net;

namespace Skein.Bookstore;

/// <summary>The roles one bookstore binary can play.</summary>
internal enum BookstoreRole
{
    Frontend,
    Catalog,
    Reviews,
    Ratings,
}

/// <summary>An invalid command line or environment; the message says which flag and why.</summary>
internal sealed class BookstoreOptionsException(string message) : Exception(message);

/// <summary>
/// Everything one bookstore process is told at start: flags first, then environment
/// variables, then defaults. See <see cref="Usage"/> for the list.
/// </summary>
internal sealed record BookstoreOptions
{
    public const int DefaultPort = 9080;

    public required BookstoreRole Role { get; init; }

    public int Port { get; init; } = DefaultPort;

    public IPAddress Listen { get; init; } = IPAddress.Any;

    /// <summary>v1, v2 or v3 for reviews; free text (default v1) for the other roles.</summary>
    public string Version { get; init; } = "v1";

    /// <summary>Tells instances apart in <c>x-served-by</c>: INSTANCE, else HOSTNAME, else the machine name.</summary>
    public string Instance { get; init; } = Environment.MachineName;

    /// <summary>No per-request log lines.</summary>
    public bool Quiet { get; init; }

    public ChaosOptions Chaos { get; init; } = new();

    public Uri CatalogUrl { get; init; } = new("http://catalog:9080");

    public Uri ReviewsUrl { get; init; } = new("http://reviews:9080");

    public Uri RatingsUrl { get; init; } = new("http://ratings:9080");

    /// <summary>How long the frontend and reviews wait for an upstream call.</summary>
    public TimeSpan UpstreamTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>When set, the process exits once this process is gone (test harnesses use it).</summary>
    public int? ParentPid { get; init; }

    /// <summary>The value of <c>x-served-by</c>: role-version-instance.</summary>
    public string ServedBy => $"{RoleName}-{Version}-{Instance}";

    public string RoleName => Role.ToString().ToLowerInvariant();

    public const string Usage = """
        usage: bookstore --role frontend|catalog|reviews|ratings [options]

          --role ROLE              env BOOKSTORE_ROLE (required)
          --port N                 env PORT, default 9080 (0 picks a free port)
          --listen ADDRESS         env BOOKSTORE_LISTEN, default 0.0.0.0
          --version V              env VERSION, default v1 (reviews: v1|v2|v3)
          --instance NAME          env INSTANCE, else HOSTNAME, else the machine name
          --quiet                  env BOOKSTORE_QUIET=1: no per-request log lines
          --fail-percent P         env FAIL_PERCENT, 0..100: answer FAIL_STATUS to that share
          --fail-status CODE       env FAIL_STATUS, default 503
          --delay-ms N             env DELAY_MS: added latency per request
          --catalog-url URL        env CATALOG_URL, default http://catalog:9080
          --reviews-url URL        env REVIEWS_URL, default http://reviews:9080
          --ratings-url URL        env RATINGS_URL, default http://ratings:9080 (h2c)
          --upstream-timeout-ms N  env UPSTREAM_TIMEOUT_MS, default 3000
          --parent-pid PID         env BOOKSTORE_PARENT_PID: exit when that process ends

        per request: x-bookstore-fail: CODE (0 = never fail), x-bookstore-delay-ms: N
        """;

    private static readonly Dictionary<string, string> FlagToEnvironment = new(StringComparer.Ordinal)
    {
        ["--role"] = "BOOKSTORE_ROLE",
        ["--port"] = "PORT",
        ["--listen"] = "BOOKSTORE_LISTEN",
        ["--version"] = "VERSION",
        ["--instance"] = "INSTANCE",
        ["--quiet"] = "BOOKSTORE_QUIET",
        ["--fail-percent"] = "FAIL_PERCENT",
        ["--fail-status"] = "FAIL_STATUS",
        ["--delay-ms"] = "DELAY_MS",
        ["--catalog-url"] = "CATALOG_URL",
        ["--reviews-url"] = "REVIEWS_URL",
        ["--ratings-url"] = "RATINGS_URL",
        ["--upstream-timeout-ms"] = "UPSTREAM_TIMEOUT_MS",
        ["--parent-pid"] = "BOOKSTORE_PARENT_PID",
    };

    /// <summary>True when the arguments ask for the usage text.</summary>
    public static bool IsHelp(IReadOnlyList<string> args) =>
        args.Any(a => a is "--help" or "-h" or "-?");

    /// <summary>Reads flags (<c>--name value</c> or <c>--name=value</c>) over environment variables over defaults.</summary>
    /// <exception cref="BookstoreOptionsException">An unknown flag or an invalid value.</exception>
    public static BookstoreOptions Parse(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        var flags = ReadFlags(args);
        string? Get(string flag) =>
            flags.TryGetValue(flag, out var value) ? value : Blank(environment(FlagToEnvironment[flag]));

        var roleText = Get("--role")
            ?? throw new BookstoreOptionsException("--role (or BOOKSTORE_ROLE) is required: frontend, catalog, reviews or ratings");
        var role = roleText.ToLowerInvariant() switch
        {
            "frontend" or "productpage" => BookstoreRole.Frontend,
            "catalog" or "details" => BookstoreRole.Catalog,
            "reviews" => BookstoreRole.Reviews,
            "ratings" => BookstoreRole.Ratings,
            _ => throw new BookstoreOptionsException($"--role: '{roleText}' is not one of frontend, catalog, reviews, ratings"),
        };

        var version = Get("--version") ?? "v1";
        if (role == BookstoreRole.Reviews && version is not ("v1" or "v2" or "v3"))
        {
            throw new BookstoreOptionsException($"--version: reviews runs as v1, v2 or v3, not '{version}'");
        }
        if (version.Length == 0 || version.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-')))
        {
            throw new BookstoreOptionsException($"--version: '{version}' must be letters, digits, '.', '_' or '-'");
        }

        var listenText = Get("--listen");
        var listen = IPAddress.Any;
        if (listenText is not null)
        {
            listen = listenText == "localhost" ? IPAddress.Loopback
                : IPAddress.TryParse(listenText.Trim('[', ']'), out var address) ? address
                : throw new BookstoreOptionsException($"--listen: '{listenText}' is not an IP address");
        }

        var quietText = Get("--quiet");
        var instance = Get("--instance") ?? Blank(environment("HOSTNAME")) ?? Environment.MachineName;

        return new BookstoreOptions
        {
            Role = role,
            Port = Int("--port", Get("--port"), DefaultPort, 0, 65535),
            Listen = listen,
            Version = version,
            Instance = instance,
            Quiet = quietText is not null && quietText is not ("0" or "false" or "False"),
            Chaos = new ChaosOptions
            {
                FailPercent = Percent(Get("--fail-percent")),
                FailStatus = Int("--fail-status", Get("--fail-status"), 503, 200, 599),
                Delay = TimeSpan.FromMilliseconds(Int("--delay-ms", Get("--delay-ms"), 0, 0, ChaosOptions.MaxDelayMs)),
            },
            CatalogUrl = Url("--catalog-url", Get("--catalog-url")) ?? new Uri("http://catalog:9080"),
            ReviewsUrl = Url("--reviews-url", Get("--reviews-url")) ?? new Uri("http://reviews:9080"),
            RatingsUrl = Url("--ratings-url", Get("--ratings-url")) ?? new Uri("http://ratings:9080"),
            UpstreamTimeout = TimeSpan.FromMilliseconds(Int("--upstream-timeout-ms", Get("--upstream-timeout-ms"), 3000, 1, 600_000)),
            ParentPid = Get("--parent-pid") is { } pid ? Int("--parent-pid", pid, 0, 1, int.MaxValue) : null,
        };
    }

    private static Dictionary<string, string> ReadFlags(IReadOnlyList<string> args)
    {
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string name;
            string? value = null;
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                name = arg[..equals];
                value = arg[(equals + 1)..];
            }
            else
            {
                name = arg;
            }

            if (!FlagToEnvironment.ContainsKey(name))
            {
                throw new BookstoreOptionsException($"unknown argument '{arg}' (see --help)");
            }
            if (name == "--quiet")
            {
                value ??= "1";
            }
            else if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    throw new BookstoreOptionsException($"{name} needs a value");
                }
                value = args[++i];
            }
            flags[name] = value;
        }
        return flags;
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static int Int(string flag, string? text, int fallback, int min, int max)
    {
        if (text is null)
        {
            return fallback;
        }
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new BookstoreOptionsException($"{flag}: '{text}' must be a whole number from {min} to {max}");
        }
        return value;
    }

    private static double Percent(string? text)
    {
        if (text is null)
        {
            return 0;
        }
        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value is < 0 or > 100)
        {
            throw new BookstoreOptionsException($"--fail-percent: '{text}' must be a number from 0 to 100");
        }
        return value;
    }

    private static Uri? Url(string flag, string? text)
    {
        if (text is null)
        {
            return null;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new BookstoreOptionsException($"{flag}: '{text}' must be an absolute http:// URL");
        }
        return uri;
    }
}

/// <summary>Failure and latency injected by the app itself, for the mesh's resilience tests.</summary>
internal sealed record ChaosOptions
{
    public const int MaxDelayMs = 600_000;

    /// <summary>Share of requests, 0..100, answered with <see cref="FailStatus"/>.</summary>
    public double FailPercent { get; init; }

    public int FailStatus { get; init; } = 503;

    /// <summary>Added to every request before it is handled.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Fail evenly spaced requests (every 100/P-th) instead of at random.</summary>
    public bool Spread { get; init; }
}
