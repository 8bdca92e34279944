using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Skein.Xds;

/// <summary>Packs xDS messages into <see cref="Any"/> with <c>type.googleapis.com/</c> type URLs.</summary>
public static class XdsAny
{
    /// <summary>Packs <paramref name="message"/> with the type URL derived from its descriptor.</summary>
    public static Any Pack(IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Any.Pack(message, "type.googleapis.com");
    }

    /// <summary>
    /// Packs <paramref name="message"/> under <paramref name="typeUrl"/> (for instance a <see cref="TypeUrls"/> constant).
    /// The type URL must name the message's own type: a mismatch would make every client reject the resource.
    /// </summary>
    /// <exception cref="ArgumentException">The type URL does not name the message's type.</exception>
    public static Any Pack(IMessage message, string typeUrl)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentException.ThrowIfNullOrEmpty(typeUrl);
        var expected = message.Descriptor.FullName;
        if (!string.Equals(TypeUrls.MessageName(typeUrl), expected, StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"Type URL '{typeUrl}' does not name message type '{expected}'.", nameof(typeUrl));
        }

        return new Any { TypeUrl = typeUrl, Value = message.ToByteString() };
    }
}
