namespace Evolution.Core;

/// <summary>
/// Repository files built into the assembly (embedded, linked from their place in the repository, so there is one copy):
/// what runs when no file is named is the file the documentation names, byte for byte, wherever the program is started.
/// </summary>
public static class ShippedFiles
{
    /// <summary>agents/default.yaml, the agent <c>train</c>, <c>world</c> and <c>compare-updates</c> use without <c>--agent</c>.</summary>
    public const string DefaultAgent = "agents/default.yaml";

    /// <summary>scenarios/worlds/default.yaml, the world the update benchmark is sized by.</summary>
    public const string DefaultWorld = "scenarios/worlds/default.yaml";

    /// <summary>The text of a built-in file, by its path in the repository.</summary>
    public static string Text(string path)
    {
        using var stream = typeof(ShippedFiles).Assembly.GetManifestResourceStream(path)
            ?? throw new InvalidOperationException($"{path} is not built into {typeof(ShippedFiles).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>How errors and checkpoints name a built-in file.</summary>
    public static string SourceName(string path) => $"{path} (built in)";
}
