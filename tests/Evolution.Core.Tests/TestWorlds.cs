using Evolution.Core.Worlds;

namespace Evolution.Core.Tests;

/// <summary>Paths to the shipped specs and profiles, found from the repository root.</summary>
public static class TestWorlds
{
    public static string RepositoryRoot { get; } = FindRoot();

    public static string Spec(string name) => Path.Combine(RepositoryRoot, "scenarios", "worlds", name + ".yaml");
    public static string Profile(string name) => Path.Combine(RepositoryRoot, "agents", name + ".yaml");

    public static World Tiny() => World.Generate(WorldSpec.Load(Spec("tiny")));

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Evolution.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (Evolution.sln) not found above " + AppContext.BaseDirectory);
    }
}
