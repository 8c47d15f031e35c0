using System.Diagnostics;

namespace Evolution.Cli;

/// <summary>This very <c>evolution</c> command, to start again as a child process (a cluster worker, a bench's separate process).</summary>
public static class SelfCommand
{
    /// <summary>The program and leading arguments that run it: the apphost alone, or dotnet with this assembly.</summary>
    public static (string FileName, IReadOnlyList<string> Arguments) Program()
    {
        var host = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? (host, [typeof(SelfCommand).Assembly.Location]) : (host, []);
    }

    /// <summary>How to start it with <paramref name="arguments"/>, its output redirected.</summary>
    public static ProcessStartInfo With(params string[] arguments)
    {
        var (fileName, leading) = Program();
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in leading.Concat(arguments)) start.ArgumentList.Add(a);
        return start;
    }
}
