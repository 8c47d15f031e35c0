using Evolution.Core.Text;

namespace Evolution.Mechanisms;

/// <summary>
/// A prompt about a fact, tokenised as the model reads it (after its start token, see <see cref="ITextTokenizer.PromptStart"/>), with the
/// subject's token span and the first token of the target answer: what every tracer needs.
/// </summary>
public sealed record FactPrompt(string Text, int[] Tokens, int SubjectStart, int SubjectEnd, string Target, int TargetToken)
{
    public int LastPosition => Tokens.Length - 1;
    public int LastSubjectPosition => SubjectEnd - 1;

    /// <param name="subject">Must occur in <paramref name="prompt"/>; its last occurrence is the subject.</param>
    /// <param name="target">The answer without its leading space.</param>
    public static FactPrompt Build(ITextTokenizer tokenizer, string prompt, string subject, string target)
    {
        int at = prompt.LastIndexOf(subject, StringComparison.Ordinal);
        if (at < 0) throw new ArgumentException($"subject '{subject}' does not occur in the prompt \"{prompt}\"");
        // Word boundaries are token boundaries for cl100k and GPT-2 BPE, so prefix token counts locate the subject.
        int before = prompt[..at].TrimEnd().Length == 0 ? 0 : tokenizer.Encode(prompt[..at].TrimEnd()).Length;
        int through = tokenizer.Encode(prompt[..(at + subject.Length)]).Length;
        var start = tokenizer.PromptStart;
        int[] tokens = [.. start, .. tokenizer.Encode(prompt)];
        var targetTokens = tokenizer.Encode(" " + target);
        if (targetTokens.Length == 0) throw new ArgumentException("empty target");
        return new FactPrompt(prompt, tokens, start.Count + before, start.Count + through, target, targetTokens[0]);
    }
}
