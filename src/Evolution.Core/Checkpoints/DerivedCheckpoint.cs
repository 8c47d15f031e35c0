using Evolution.Core.Model;
using Evolution.Core.Text;

namespace Evolution.Core.Checkpoints;

/// <summary>
/// A checkpoint made from another one, e.g. an agent after <c>edit</c>: the new weights, and the source's other files (its
/// world, profile, ...) so every command that reads an agent checkpoint reads this one too. Written by <see cref="Checkpoint.Save"/>:
/// a temporary folder renamed into place, so the folder is whole or absent, never half-written.
/// </summary>
public static class DerivedCheckpoint
{
    /// <summary>The source's training report is not copied: its evaluation and cache key describe the source's weights.</summary>
    public const string TrainingReportFile = "training.json";

    /// <summary>
    /// Where a derived checkpoint may go: not the source itself, and not a folder holding anything but a checkpoint (saving
    /// replaces the folder). A mistake is an <see cref="InputException"/> naming <paramref name="option"/>.
    /// </summary>
    public static void CheckTarget(string source, string directory, string option)
    {
        var full = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        if (full == Path.GetFullPath(source).TrimEnd(Path.DirectorySeparatorChar))
            throw new InputException(directory, option, "is the source checkpoint: the derived agent needs a folder of its own (the source stays as it is)");
        if (File.Exists(full)) throw new InputException(directory, option, "is a file, not a folder");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any() && !File.Exists(Path.Combine(full, Checkpoint.ConfigFile)))
            throw new InputException(directory, option, "exists and holds something other than a checkpoint: saving would replace it, choose a new folder");
    }

    /// <summary>
    /// Saves <paramref name="model"/> and <paramref name="tokenizer"/> into <paramref name="directory"/> with every other file of
    /// <paramref name="source"/> (but <see cref="TrainingReportFile"/>), and <paramref name="notes"/> (name → text) on top.
    /// </summary>
    public static void Save(string source, string directory, Gpt model, ITextTokenizer tokenizer, IReadOnlyDictionary<string, string> notes)
    {
        var extra = Directory.EnumerateFiles(source)
            .Select(Path.GetFileName).OfType<string>()
            .Where(name => !name.StartsWith('.') && name is not (Checkpoint.ConfigFile or Checkpoint.WeightsFile or TrainingReportFile))
            .ToDictionary(name => name, name => File.ReadAllText(Path.Combine(source, name)));
        foreach (var (name, text) in notes) extra[name] = text;
        Checkpoint.Save(directory, model, tokenizer, extra);
    }
}
