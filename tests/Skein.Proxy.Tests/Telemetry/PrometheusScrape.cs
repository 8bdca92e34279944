using System.Globalization;
using System.Text.RegularExpressions;

namespace Skein.Proxy.Tests.Telemetry;

/// <summary>One sample of a Prometheus text exposition.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string this[string label] => Labels.TryGetValue(label, out var v) ? v : throw new KeyNotFoundException($"{Name} has no label {label}");
}

/// <summary>Reads a proxy's <c>/stats/prometheus</c> into samples (enough of the text format for these tests).</summary>
internal static partial class PrometheusScrape
{
    public static async Task<IReadOnlyList<Sample>> ScrapeAsync(int statsPort)
    {
        using var client = new HttpClient();
        return Parse(await client.GetStringAsync($"http://127.0.0.1:{statsPort}/stats/prometheus"));
    }

    /// <summary>Scrapes until <paramref name="predicate"/> holds (metrics are recorded as requests complete, after the response).</summary>
    public static async Task<IReadOnlyList<Sample>> WaitForAsync(int statsPort, Func<IReadOnlyList<Sample>, bool> predicate)
    {
        IReadOnlyList<Sample> samples = [];
        for (var i = 0; i < 100; i++)
        {
            samples = await ScrapeAsync(statsPort);
            if (predicate(samples))
            {
                return samples;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("condition never held; last scrape:\n" + string.Join("\n", samples.Select(s => s.Name + " " + s.Value)));
    }

    public static IReadOnlyList<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var m = Line().Match(line);
            Assert.True(m.Success, "malformed exposition line: " + line);
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match l in Label().Matches(m.Groups["labels"].Value))
            {
                labels[l.Groups["k"].Value] = l.Groups["v"].Value.Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
            }

            samples.Add(new Sample(m.Groups["name"].Value, labels, double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)));
        }

        return samples;
    }

    public static IEnumerable<Sample> Named(this IEnumerable<Sample> samples, string name) => samples.Where(s => s.Name == name);

    public static IEnumerable<Sample> With(this IEnumerable<Sample> samples, string label, string value) =>
        samples.Where(s => s.Labels.TryGetValue(label, out var v) && v == value);

    public static double Total(this IEnumerable<Sample> samples) => samples.Sum(s => s.Value);

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>[-+0-9.eE]+|NaN|\+Inf)$""")]
    private static partial Regex Line();

    [GeneratedRegex("""(?<k>[a-zA-Z_][a-zA-Z0-9_]*)="(?<v>(\\.|[^"\\])*)",?""")]
    private static partial Regex Label();
}
