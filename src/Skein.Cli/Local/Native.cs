using System.Runtime.InteropServices;

namespace Skein.Cli.Local;

/// <summary>The few libc calls the runtime needs (Linux only).</summary>
internal static partial class Native
{
    public const int SigTerm = 15;
    public const int SigKill = 9;
    public const int CloneNewNet = 0x40000000;

    private const int ORdOnly = 0;
    private const int OCloExec = 0x80000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, int owner, int group);

    /// <summary>Gives <paramref name="path"/> to <paramref name="uid"/>:<paramref name="gid"/> (the sidecar's own files).</summary>
    public static void Chown(string path, int uid, int gid)
    {
        if (chown(path, uid, gid) != 0)
        {
            throw new IOException($"cannot chown {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
    }

    public static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    /// <summary>Sends a signal; false when the process (or group, for a negative pid) no longer exists.</summary>
    public static bool Signal(int pid, int signal)
    {
        return kill(pid, signal) == 0;
    }

    /// <summary>Opens a namespace file (e.g. /var/run/netns/NAME) for <see cref="SetNetns"/>.</summary>
    public static int OpenNamespace(string path)
    {
        var fd = open(path, ORdOnly | OCloExec);
        if (fd < 0)
        {
            throw new IOException($"cannot open {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        return fd;
    }

    /// <summary>Moves the calling thread into the network namespace behind fd.</summary>
    public static void SetNetns(int fd)
    {
        if (setns(fd, CloneNewNet) != 0)
        {
            throw new IOException($"setns failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
    }

    public static void Close(int fd) => _ = close(fd);
}
