namespace Evolution.Core;

/// <summary>
/// A user mistake in an input file or argument (malformed YAML, unknown name, corrupt checkpoint,
/// wrong shape). The CLI prints <see cref="Exception.Message"/> without a stack trace, so the
/// message must name the file, the line when known, and the field.
/// </summary>
public class InputException : Exception
{
    public string? File { get; }
    public string? Field { get; }
    public int? Line { get; }

    public InputException(string? file, string? field, string problem, int? line = null, Exception? inner = null)
        : base(Compose(file, field, problem, line), inner)
    {
        File = file;
        Field = field;
        Line = line;
    }

    /// <summary>Throws when a validation check fails.</summary>
    public static void Require(bool ok, string? file, string field, string problem)
    {
        if (!ok) throw new InputException(file, field, problem);
    }

    static string Compose(string? file, string? field, string problem, int? line)
    {
        var where = file is null ? "" : line is null ? $"{file}: " : $"{file}:{line}: ";
        var what = field is null ? "" : $"field '{field}': ";
        return where + what + problem;
    }
}
