namespace Evolution.Core;

/// <summary>
/// Writes that never leave a half-written file behind: write a temporary file in the same folder,
/// then rename it over the target (rename is atomic on one file system).
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string contents) =>
        Write(path, temp => File.WriteAllText(temp, contents));

    public static void WriteAllBytes(string path, byte[] contents) =>
        Write(path, temp => File.WriteAllBytes(temp, contents));

    public static void Write(string path, Action<string> writeTemporary)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        // Keeps the extension last: some writers (e.g. image encoders) choose the format from it.
        var temp = Path.Combine(directory, $".{Path.GetFileNameWithoutExtension(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp{Path.GetExtension(path)}");
        try
        {
            writeTemporary(temp);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
