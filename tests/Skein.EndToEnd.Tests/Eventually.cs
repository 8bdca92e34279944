using System.Diagnostics;

namespace Skein.EndToEnd.Tests;

/// <summary>Polls a condition on the running mesh: config and logs reach every pod within seconds, not at once.</summary>
internal static class Eventually
{
    /// <summary>True as soon as <paramref name="condition"/> holds, false when it did not within the timeout (10 s).</summary>
    public static bool True(Func<bool> condition, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < (timeout ?? TimeSpan.FromSeconds(10)))
        {
            if (condition())
            {
                return true;
            }

            Thread.Sleep(250);
        }

        return false;
    }
}
