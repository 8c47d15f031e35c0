using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace Evolution.Cli;

/// <summary>
/// Where output goes: progress and tables to stderr (so stdout stays one clean JSON object
/// with --json), the JSON result to stdout.
/// </summary>
public static class Output
{
    public static readonly IAnsiConsole Status = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
    });

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) }, // "prompt_last", not 1
    };

    public static string ToJson(object value) => JsonSerializer.Serialize(value, JsonOptions);

    public static void Json(object value) => Console.Out.WriteLine(ToJson(value));

    /// <summary>Runs <paramref name="work"/> under a progress bar on stderr.</summary>
    public static T WithProgress<T>(string title, double maxValue, Func<Action<double, string>, T> work)
    {
        T result = default!;
        Status.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title), maxValue: maxValue);
                result = work((value, description) =>
                {
                    task.Value = value;
                    task.Description = Markup.Escape(description);
                });
                task.Value = task.MaxValue;
            });
        return result;
    }
}
