namespace Skein.ControlPlane;

/// <summary>
/// The files skein-control keeps across restarts under <c>--data-dir</c>: API-applied config
/// (<c>config.yaml</c>), registered instances (<c>instances.json</c>), service VIPs (<c>vips.json</c>)
/// and the version counter (<c>state.json</c>). Writes are atomic (temp file, then rename), so a
/// crash leaves either the old or the new file. Without a directory nothing is kept.
/// </summary>
internal sealed class DataDirectory
{
    public const string ConfigFile = "config.yaml";
    public const string InstancesFile = "instances.json";
    public const string VipsFile = "vips.json";
    public const string StateFile = "state.json";

    private readonly object _gate = new();

    public DataDirectory(string? path)
    {
        Path = path;
        if (path is not null)
        {
            Directory.CreateDirectory(path);
        }
    }

    public static DataDirectory None { get; } = new(null);

    public string? Path { get; }

    public bool IsEnabled => Path is not null;

    public string? FullPath(string file) => Path is null ? null : System.IO.Path.Combine(Path, file);

    public string? Read(string file)
    {
        var full = FullPath(file);
        if (full is null || !File.Exists(full))
        {
            return null;
        }

        try
        {
            return File.ReadAllText(full);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Write(string file, string content)
    {
        var full = FullPath(file);
        if (full is null)
        {
            return;
        }

        lock (_gate)
        {
            var temp = full + ".tmp";
            File.WriteAllText(temp, content);
            File.Move(temp, full, overwrite: true);
        }
    }
}
