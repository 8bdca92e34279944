using System.Globalization;
using System.Text.Json;

namespace Skein.Cli.Output;

/// <summary>How telemetry numbers read in the CLI's tables: the same units and precision everywhere.</summary>
internal static class TelemetryText
{
    public static string Rps(double? v) => v is not { } r ? "-" : r >= 100 ? $"{r:0}rps" : r >= 10 ? $"{r:0.0}rps" : $"{r:0.00}rps";

    public static string Percent(double? v) => v is not { } p ? "-" : $"{p * 100:0.00}%";

    public static string Ms(double? v) => v is not { } ms ? "-" : ms >= 10_000 ? $"{ms / 1000:0.0}s" : ms >= 100 ? $"{ms:0}ms" : ms >= 10 ? $"{ms:0.#}ms" : $"{ms:0.##}ms";

    public static string BytesPerSecond(double v) =>
        v <= 0 ? "-" : v >= 1048576 ? $"{v / 1048576:0.0}MB/s" : v >= 1024 ? $"{v / 1024:0.0}kB/s" : $"{v:0}B/s";

    /// <summary>Spectre colour for a success rate: green from 99%, yellow from 95%, red below.</summary>
    public static string Colour(double? successRate) => successRate switch
    {
        null => "grey",
        >= 0.99 => "green",
        >= 0.95 => "yellow",
        _ => "red",
    };

    public static double? Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    public static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";

    public static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
