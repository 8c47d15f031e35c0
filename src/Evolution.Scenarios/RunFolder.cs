using Evolution.Agents.Recording;
using Evolution.Core;

namespace Evolution.Scenarios;

/// <summary>
/// What a run writes into its folder, and the only things <c>run --force</c> may delete. A folder
/// that holds anything else (a user pointed <c>--out</c> at their home or a data folder) is refused
/// before anything is removed, so starting over can never destroy files the run did not write.
/// </summary>
public static class RunFolder
{
    /// <summary>Folder of the agents' retrieval memories (one LiteDB file per agent; a population's all in one, population.db).</summary>
    public const string MemoryDirectory = "memory";

    static readonly string[] OwnFiles =
    [
        RunDatabase.FileName, LiteDbLog(RunDatabase.FileName),
        RunResults.SummaryFile, RunResults.MetricsFile, RunResults.ReportFile,
    ];

    /// <summary>LiteDB keeps a write-ahead log beside its file: <c>name-log.ext</c>.</summary>
    static string LiteDbLog(string file) => $"{Path.GetFileNameWithoutExtension(file)}-log{Path.GetExtension(file)}";

    /// <summary>A temporary file <see cref="AtomicFile"/> left behind when a process was killed mid-write.</summary>
    static bool IsAtomicTemporary(string name) => name.StartsWith('.') && name.Contains(".tmp");

    static bool IsOwnFile(string relative)
    {
        var parts = relative.Split(Path.DirectorySeparatorChar);
        var name = parts[^1];
        return parts.Length switch
        {
            1 => OwnFiles.Contains(name) || IsAtomicTemporary(name),
            2 when parts[0] == RunResults.PlotsDirectory => name.EndsWith(".png") || IsAtomicTemporary(name),
            2 when parts[0] == MemoryDirectory => name.EndsWith(".db"),
            _ => false,
        };
    }

    /// <summary>Entries below <paramref name="directory"/> (relative paths) that no run writes.</summary>
    public static IReadOnlyList<string> ForeignEntries(string directory)
    {
        var foreign = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(directory, entry);
            bool isDirectory = Directory.Exists(entry) && !File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint);
            bool own = isDirectory ? relative is RunResults.PlotsDirectory or MemoryDirectory : !Directory.Exists(entry) && IsOwnFile(relative);
            if (!own) foreign.Add(relative);
        }
        return foreign;
    }

    /// <summary>
    /// Makes <paramref name="directory"/> ready for a new run: creates it, or, if it holds an earlier
    /// run's files and <paramref name="force"/> is set, deletes exactly those. Refuses (before
    /// deleting anything) a folder that holds a run's files without <paramref name="force"/>, or
    /// holds any file or folder a run does not write.
    /// </summary>
    public static void Prepare(string directory, bool force)
    {
        if (File.Exists(directory)) throw new InputException(directory, "--out", "is a file, not a folder");
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
            return;
        }
        var foreign = ForeignEntries(directory);
        if (foreign.Count > 0)
            throw new InputException(directory, "--out", $"holds files a run does not write ({string.Join(", ", foreign.Take(5))}{(foreign.Count > 5 ? $", … {foreign.Count - 5} more" : "")}); " +
                "choose an empty or new folder (nothing was deleted)");
        bool empty = !Directory.EnumerateFileSystemEntries(directory).Any();
        if (!empty && !force)
            throw new InputException(directory, "--out", File.Exists(Path.Combine(directory, RunDatabase.FileName))
                ? "already holds a run; continue it with `evolution resume DIR`, or pass --force to start over"
                : "holds the results of an earlier run; pass --force to start over");
        // Only the run's own files are left here (checked above); delete them, files first.
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).ToList()) File.Delete(file);
        foreach (var sub in new[] { RunResults.PlotsDirectory, MemoryDirectory })
            if (Directory.Exists(Path.Combine(directory, sub))) Directory.Delete(Path.Combine(directory, sub));
    }
}
