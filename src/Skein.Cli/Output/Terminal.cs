using Spectre.Console;

namespace Skein.Cli.Output;

/// <summary>Spectre consoles that colour only real terminals (and never when NO_COLOR is set).</summary>
internal static class Terminal
{
    public static IAnsiConsole Create(TextWriter writer)
    {
        var interactive = ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!interactive)
        {
            // Pipes and files get one finding per line, whatever the width, so grep and editors can jump to it.
            console.Profile.Width = 100_000;
        }

        return console;
    }
}
