using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Skein.Api.Analysis;
using Skein.Api.Loading;
using Skein.Api.Model;
using Skein.Api.Validation;

namespace Skein.ControlPlane.ConfigStore;

/// <summary>The answer to an apply, delete or directory reload.</summary>
/// <param name="Accepted">False when any error was found; then nothing changed.</param>
/// <param name="Changes">What happened to each resource named (empty when rejected).</param>
/// <param name="Diagnostics">Errors (why it was rejected) and warnings about the resources named.</param>
/// <param name="Version">The config version after the operation.</param>
internal sealed record ConfigResult(bool Accepted, IReadOnlyList<ConfigChange> Changes, IReadOnlyList<Diagnostic> Diagnostics, long Version);

/// <summary>
/// Holds the mesh's config: the resources of <c>--config-dir</c> and those applied through the API.
/// Every change is validated as `skein analyze` would validate the resulting config, and refused whole
/// if that has any error, so the config in force is always the last good one. Each accepted change
/// produces a new immutable <see cref="ConfigSnapshot"/>, published with one volatile write.
/// </summary>
internal sealed partial class MeshConfigStore
{
    private readonly object _gate = new();
    private readonly DataDirectory _data;
    private readonly ILogger _logger;
    private ConfigSnapshot _current = ConfigSnapshot.Empty;

    public MeshConfigStore(DataDirectory data, ILogger<MeshConfigStore> logger)
    {
        _data = data;
        _logger = logger;
    }

    /// <summary>Raised after each accepted change, outside the store's lock.</summary>
    public event Action<ConfigSnapshot>? Changed;

    public ConfigSnapshot Current => Volatile.Read(ref _current);

    /// <summary>The errors of the last directory load that was refused; empty when the directory is in force.</summary>
    public IReadOnlyList<Diagnostic> DirectoryErrors { get; private set; } = [];

    /// <summary>Loads the API layer kept in the data directory (at startup, before the directory).</summary>
    public void LoadPersisted(long version)
    {
        var text = _data.Read(DataDirectory.ConfigFile);
        lock (_gate)
        {
            var api = ImmutableSortedDictionary<ConfigKey, Resource>.Empty;
            if (text is not null)
            {
                var loaded = ConfigLoader.LoadText(text, _data.FullPath(DataDirectory.ConfigFile)!);
                foreach (var d in loaded.Diagnostics.Where(d => d.Severity == Severity.Error))
                {
                    Log.PersistedConfigError(_logger, d.ToString());
                }

                api = api.SetItems(loaded.Resources.Select(r => KeyValuePair.Create(ConfigKey.Of(r), r)));
            }

            Volatile.Write(ref _current, _current.With(version, api: api));
        }
    }

    /// <summary>Applies YAML (one or more documents): creates or replaces each resource by kind/namespace/name.</summary>
    public ConfigResult Apply(string text, string fileName)
    {
        var loaded = ConfigLoader.LoadText(text, fileName);
        if (loaded.HasErrors)
        {
            return Rejected(loaded.Diagnostics, fileName, null);
        }

        ConfigResult result;
        ConfigSnapshot changed;
        lock (_gate)
        {
            var current = _current;
            var batch = loaded.Resources;
            var api = current.ApiLayer;
            var changes = new List<ConfigChange>();
            foreach (var resource in batch)
            {
                var key = ConfigKey.Of(resource);
                var action = !current.ByKey.TryGetValue(key, out var existing) ? ConfigAction.Created
                    : SameContent(existing, resource) ? ConfigAction.Unchanged
                    : ConfigAction.Configured;
                changes.Add(new ConfigChange(key, action));
                api = api.SetItem(key, resource);
            }

            // Validate the would-be config; the batch goes in as written so duplicates inside it are reported.
            var keys = batch.Select(ConfigKey.Of).ToHashSet();
            var others = current.ByKey.Where(kv => !keys.Contains(kv.Key)).Select(kv => kv.Value);
            var report = ConfigAnalyzer.Analyze(new LoadResult([.. others, .. batch], loaded.Diagnostics));
            if (report.HasErrors)
            {
                return Rejected(report.Diagnostics, fileName, keys.Select(k => k.ToString()).ToHashSet(StringComparer.Ordinal));
            }

            var relevant = Relevant(report.Diagnostics, batch.Select(r => r.DisplayName).ToHashSet(StringComparer.Ordinal), fileName);
            if (changes.All(c => c.Action == ConfigAction.Unchanged))
            {
                // Same content, same version; re-applying still adopts a directory resource into the API layer.
                var adopted = current.With(current.Version, api: api);
                Volatile.Write(ref _current, adopted);
                Persist(adopted);
                return new ConfigResult(true, changes, relevant, current.Version);
            }

            changed = current.With(current.Version + 1, api: api);
            Volatile.Write(ref _current, changed);
            Persist(changed);
            result = new ConfigResult(true, changes, relevant, changed.Version);
        }

        Log.Applied(_logger, fileName, result.Changes.Count, result.Version);
        Changed?.Invoke(changed);
        return result;
    }

    /// <summary>Deletes the resources named by YAML documents (only kind and metadata are read).</summary>
    public ConfigResult Delete(string text, string fileName)
    {
        var loaded = ConfigLoader.LoadText(text, fileName);
        if (loaded.HasErrors)
        {
            return Rejected(loaded.Diagnostics, fileName, null);
        }

        ConfigResult result;
        ConfigSnapshot changed;
        lock (_gate)
        {
            var current = _current;
            var api = current.ApiLayer;
            var changes = new List<ConfigChange>();
            var errors = new List<Diagnostic>();
            foreach (var resource in loaded.Resources)
            {
                var key = ConfigKey.Of(resource);
                if (api.ContainsKey(key))
                {
                    api = api.Remove(key);
                    changes.Add(new ConfigChange(key, ConfigAction.Deleted));
                }
                else if (current.DirectoryLayer.TryGetValue(key, out var fromDir))
                {
                    errors.Add(new Diagnostic(Severity.Error, DiagnosticCodes.InvalidValue, resource.Source, "metadata.name",
                        $"{key} is defined in the config directory ({fromDir.Source?.File}); remove it there")
                    { Resource = resource.DisplayName });
                }
                else
                {
                    changes.Add(new ConfigChange(key, ConfigAction.NotFound));
                }
            }

            if (errors.Count > 0)
            {
                return new ConfigResult(false, [], errors, current.Version);
            }

            if (!changes.Any(c => c.Action == ConfigAction.Deleted))
            {
                return new ConfigResult(true, changes, [], current.Version);
            }

            var candidate = current.With(current.Version + 1, api: api);
            var report = ConfigAnalyzer.Analyze(new LoadResult([.. candidate.Resources], []));
            if (report.HasErrors)
            {
                // Deleting would break what is left (a route to a subset that no longer exists, ...).
                return new ConfigResult(false, [], [.. report.Diagnostics.Where(d => d.Severity == Severity.Error)], current.Version);
            }

            changed = candidate;
            Volatile.Write(ref _current, changed);
            Persist(changed);
            result = new ConfigResult(true, changes, [], changed.Version);
        }

        Log.Deleted(_logger, fileName, result.Changes.Count(c => c.Action == ConfigAction.Deleted), result.Version);
        Changed?.Invoke(changed);
        return result;
    }

    /// <summary>Replaces the directory layer with a fresh load of the directory, unless the result has errors.</summary>
    public ConfigResult ReplaceDirectory(LoadResult loaded, string directory)
    {
        if (loaded.HasErrors)
        {
            var errors = loaded.Diagnostics.Where(d => d.Severity == Severity.Error).ToList();
            DirectoryErrors = errors;
            Log.DirectoryRejected(_logger, directory, errors.Count, errors[0].ToString());
            return new ConfigResult(false, [], errors, Current.Version);
        }

        ConfigResult result;
        ConfigSnapshot changed;
        lock (_gate)
        {
            var current = _current;
            var dir = ImmutableSortedDictionary<ConfigKey, Resource>.Empty;
            var duplicates = new List<Diagnostic>();
            foreach (var resource in loaded.Resources)
            {
                var key = ConfigKey.Of(resource);
                if (dir.TryGetValue(key, out var first))
                {
                    duplicates.Add(new Diagnostic(Severity.Error, DiagnosticCodes.DuplicateResource, resource.Source, "metadata.name",
                        $"{resource.DisplayName} is defined twice (first at {first.Source})") { Resource = resource.DisplayName });
                    continue;
                }

                dir = dir.Add(key, resource);
            }

            var candidate = current.With(current.Version + 1, directory: dir);
            var report = ConfigAnalyzer.Analyze(new LoadResult([.. candidate.Resources], loaded.Diagnostics));
            var errors = duplicates.Concat(report.Diagnostics.Where(d => d.Severity == Severity.Error)).ToList();
            if (errors.Count > 0)
            {
                DirectoryErrors = errors;
                Log.DirectoryRejected(_logger, directory, errors.Count, errors[0].ToString());
                return new ConfigResult(false, [], errors, current.Version);
            }

            DirectoryErrors = [];
            var changes = Diff(current.DirectoryLayer, dir);
            if (changes.All(c => c.Action == ConfigAction.Unchanged))
            {
                // Same content: keep the version, but hold the new records (their source positions may have moved).
                Volatile.Write(ref _current, current.With(current.Version, directory: dir));
                return new ConfigResult(true, changes, [.. report.Diagnostics.Where(d => d.Severity == Severity.Warning)], current.Version);
            }

            changed = candidate;
            Volatile.Write(ref _current, changed);
            result = new ConfigResult(true, changes, [.. report.Diagnostics.Where(d => d.Severity == Severity.Warning)], changed.Version);
        }

        Log.DirectoryLoaded(_logger, directory, loaded.Resources.Count, result.Version);
        Changed?.Invoke(changed);
        return result;
    }

    private static List<ConfigChange> Diff(ImmutableSortedDictionary<ConfigKey, Resource> before, ImmutableSortedDictionary<ConfigKey, Resource> after)
    {
        var changes = new List<ConfigChange>();
        foreach (var (key, resource) in after)
        {
            changes.Add(new ConfigChange(key, !before.TryGetValue(key, out var old) ? ConfigAction.Created
                : SameContent(old, resource) ? ConfigAction.Unchanged : ConfigAction.Configured));
        }

        foreach (var key in before.Keys)
        {
            if (!after.ContainsKey(key))
            {
                changes.Add(new ConfigChange(key, ConfigAction.Deleted));
            }
        }

        return changes;
    }

    /// <summary>Same content as written back (positions and file names aside).</summary>
    internal static bool SameContent(Resource a, Resource b) =>
        a.GetType() == b.GetType() && string.Equals(YamlWriter.Write(a), YamlWriter.Write(b), StringComparison.Ordinal);

    private static ConfigResult Rejected(IReadOnlyList<Diagnostic> diagnostics, string fileName, HashSet<string>? names)
    {
        // Errors always block and are all shown; warnings only about what was sent.
        var shown = diagnostics.Where(d => d.Severity == Severity.Error
            || (d.Severity == Severity.Warning && (d.Location?.File == fileName || (names is not null && d.Resource is not null && names.Contains(d.Resource)))))
            .ToList();
        return new ConfigResult(false, [], shown, 0);
    }

    private static List<Diagnostic> Relevant(IReadOnlyList<Diagnostic> diagnostics, HashSet<string> displayNames, string fileName) =>
        diagnostics.Where(d => d.Severity != Severity.Info
            && (d.Location?.File == fileName || (d.Resource is not null && displayNames.Contains(d.Resource))))
            .ToList();

    private void Persist(ConfigSnapshot snapshot)
    {
        if (!_data.IsEnabled)
        {
            return;
        }

        try
        {
            _data.Write(DataDirectory.ConfigFile, "# Config applied through skein-control's API; managed by skein-control.\n" + YamlWriter.Write(snapshot.ApiLayer.Values));
        }
        catch (IOException e)
        {
            Log.PersistFailed(_logger, e.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "config applied from {File}: {Count} resource(s), version {Version}")]
        public static partial void Applied(ILogger logger, string file, int count, long version);

        [LoggerMessage(2, LogLevel.Information, "config deleted from {File}: {Count} resource(s), version {Version}")]
        public static partial void Deleted(ILogger logger, string file, int count, long version);

        [LoggerMessage(3, LogLevel.Information, "config directory {Directory} loaded: {Count} resource(s), version {Version}")]
        public static partial void DirectoryLoaded(ILogger logger, string directory, int count, long version);

        [LoggerMessage(4, LogLevel.Warning, "config directory {Directory} refused, the last good config stays in force: {Count} error(s), first: {First}")]
        public static partial void DirectoryRejected(ILogger logger, string directory, int count, string first);

        [LoggerMessage(5, LogLevel.Warning, "persisted config: {Message}")]
        public static partial void PersistedConfigError(ILogger logger, string message);

        [LoggerMessage(6, LogLevel.Error, "cannot persist config: {Message}")]
        public static partial void PersistFailed(ILogger logger, string message);
    }
}
