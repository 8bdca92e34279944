using Spectre.Console;

namespace Skein.Cli.Local;

/// <summary>Where `skein up` reports what it is doing: a live display on a terminal, lines in a pipe.</summary>
internal interface IUpProgress
{
    /// <summary>A mesh-wide step ("starting skein-control").</summary>
    void Step(string message);

    /// <summary>A pod moved on: its state and an optional detail (address, error).</summary>
    void Pod(string pod, string state, string? detail = null);
}

/// <summary>One line per event, for pipes, logs and CI.</summary>
internal sealed class PlainProgress(TextWriter writer) : IUpProgress
{
    private readonly Lock gate = new();

    public void Step(string message)
    {
        lock (gate)
        {
            writer.WriteLine(message);
        }
    }

    public void Pod(string pod, string state, string? detail = null)
    {
        lock (gate)
        {
            writer.WriteLine(detail is null ? $"pod {pod}: {state}" : $"pod {pod}: {state} ({detail})");
        }
    }
}

/// <summary>A Spectre progress display: one bar per pod, filled as it goes network → proxy → app → running.</summary>
internal sealed class SpectreProgress(ProgressContext context) : IUpProgress
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, ProgressTask> pods = new(StringComparer.Ordinal);
    private ProgressTask? step;

    public static async Task<T> RunAsync<T>(IAnsiConsole console, Func<IUpProgress, Task<T>> body)
    {
        return await console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new SpinnerColumn())
            .StartAsync(context => body(new SpectreProgress(context)))
            .ConfigureAwait(false);
    }

    public void Step(string message)
    {
        lock (gate)
        {
            if (step is not null)
            {
                step.Value = step.MaxValue;
            }

            step = context.AddTask(Markup.Escape(message), maxValue: 1);
            step.IsIndeterminate = true;
        }
    }

    public void Pod(string pod, string state, string? detail = null)
    {
        lock (gate)
        {
            if (!pods.TryGetValue(pod, out var task))
            {
                task = context.AddTask(pod, maxValue: 4);
                pods[pod] = task;
            }

            task.Value = state switch
            {
                PodStates.Network => 1,
                PodStates.StartingProxy => 1,
                PodStates.StartingApp => 2,
                PodStates.Running => 4,
                PodStates.Failed => task.Value,
                _ => task.Value,
            };
            var colour = state switch { PodStates.Running => "green", PodStates.Failed => "red", _ => "yellow" };
            var text = detail is null ? state : $"{state} {detail}";
            task.Description = $"{Markup.Escape(pod),-24} [{colour}]{Markup.Escape(text)}[/]";
            if (state is PodStates.Running or PodStates.Failed)
            {
                task.StopTask();
            }

            if (step is not null && !step.IsFinished)
            {
                step.IsIndeterminate = false;
                step.Value = step.MaxValue;
            }
        }
    }
}
