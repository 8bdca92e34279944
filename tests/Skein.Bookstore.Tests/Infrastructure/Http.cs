using System.Net;
using System.Text.Json;

namespace Skein.Bookstore.Tests.Infrastructure;

/// <summary>HTTP clients for tests: plain HTTP/1.1, and HTTP/2 with prior knowledge (h2c).</summary>
internal static class Http
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static HttpClient Http1() => new(new SocketsHttpHandler { UseProxy = false, UseCookies = false, AllowAutoRedirect = false })
    {
        Timeout = Timeout,
    };

    public static HttpClient H2c() => new(new SocketsHttpHandler { UseProxy = false, UseCookies = false })
    {
        Timeout = Timeout,
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    public static async Task<JsonElement> GetJsonAsync(this HttpClient client, Uri url, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode} {body}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    public static string Header(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";
}
