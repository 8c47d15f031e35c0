using System.CommandLine;
using Evolution.Core.Text;

namespace Evolution.Cli.Commands;

/// <summary><c>--bos</c> / <c>--no-bos</c> for the commands that read prompts on any model folder (see <see cref="StartToken"/>).</summary>
sealed class PromptStartOptions
{
    public Option<bool> Bos { get; } = new("--bos") { Description = StartToken.Description };
    public Option<bool> NoBos { get; } = new("--no-bos") { Description = StartToken.NoDescription };

    public void AddTo(Command command)
    {
        command.Options.Add(Bos);
        command.Options.Add(NoBos);
    }

    /// <summary>Whether the start token is left out (both options at once are refused).</summary>
    public bool LeftOut(ParseResult parse) => StartToken.LeftOut(parse.GetValue(Bos), parse.GetValue(NoBos));
}
