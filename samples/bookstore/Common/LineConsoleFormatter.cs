using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Skein.Bookstore.Common;

/// <summary>
/// Writes each log entry as one short line: the message alone for information, with a
/// level prefix for warnings and errors (and the exception for errors).
/// </summary>
internal sealed class LineConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "bookstore-line";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        var prefix = logEntry.LogLevel switch
        {
            LogLevel.Warning => "warn: ",
            LogLevel.Error => "error: ",
            LogLevel.Critical => "crit: ",
            _ => "",
        };
        textWriter.Write(prefix);
        textWriter.Write(message);
        if (logEntry.Exception is { } exception && logEntry.LogLevel >= LogLevel.Error)
        {
            textWriter.Write(' ');
            textWriter.Write(exception.ToString());
        }
        textWriter.Write('\n');
    }
}
