using System.CommandLine;

namespace Skein.Cli.Commands;

/// <summary>Options several verbs share, spelled the same everywhere.</summary>
internal static class CommonOptions
{
    public static Option<string[]> Files(string description) => new("--filename", "-f")
    {
        Description = description,
        Required = true,
        AllowMultipleArgumentsPerToken = true,
        Arity = ArgumentArity.OneOrMore,
    };

    public static Option<bool> Recursive() => new("--recursive", "-R")
    {
        Description = "Also read the files in subdirectories of a directory given with -f.",
    };

    public static Option<OutputFormat> Output() => new("--output", "-o")
    {
        Description = "Output format: text (coloured for people), json or yaml (for scripts).",
        DefaultValueFactory = _ => OutputFormat.Text,
    };
}

internal enum OutputFormat
{
    Text,
    Json,
    Yaml,
}
