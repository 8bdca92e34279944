using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Skein.Identity;

/// <summary>
/// A token that names one identity, signed by the control plane (HMAC-SHA256) and handed to one pod
/// by `skein up`. The CA signs a CSR only for the identity its token names. The token is a secret:
/// it never appears in ToString or logs.
/// </summary>
public sealed class BootstrapTokens(byte[] key, TimeProvider? time = null)
{
    private const string Audience = "skein-ca";
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(32);

    public string Issue(SpiffeId identity, TimeSpan lifetime)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(new Claims(identity.ToString(), Audience, _time.GetUtcNow().Add(lifetime).ToUnixTimeSeconds()), TokenJson.Default.Claims);
        var body = Base64Url(payload);
        return body + "." + Base64Url(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(body)));
    }

    /// <summary>The identity the token names, or null when it is forged, expired or malformed.</summary>
    public SpiffeId? Verify(string? token)
    {
        var dot = token?.IndexOf('.') ?? -1;
        if (token is null || dot <= 0)
        {
            return null;
        }

        var body = token[..dot];
        // The signature's text must be exactly the canonical encoding: decoding first would accept variants whose
        // last character differs only in base64's padding bits.
        var expected = Encoding.ASCII.GetBytes(Base64Url(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(body))));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(token[(dot + 1)..])))
        {
            return null;
        }

        Claims? claims;
        try
        {
            claims = JsonSerializer.Deserialize(Convert.FromBase64String(Pad(body)), TokenJson.Default.Claims);
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            return null;
        }

        return claims is { Aud: Audience } && claims.Exp > _time.GetUtcNow().ToUnixTimeSeconds() && SpiffeId.TryParse(claims.Sub, out var id) ? id : null;
    }

    public override string ToString() => "BootstrapTokens(key hidden)";

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Pad(string s)
    {
        s = s.Replace('-', '+').Replace('_', '/');
        return s + new string('=', (4 - (s.Length % 4)) % 4);
    }

    internal sealed record Claims(string Sub, string Aud, long Exp);
}

/// <summary>Source-generated JSON for the token's claims: the proxy links this library under NativeAOT.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(BootstrapTokens.Claims))]
internal sealed partial class TokenJson : System.Text.Json.Serialization.JsonSerializerContext;
