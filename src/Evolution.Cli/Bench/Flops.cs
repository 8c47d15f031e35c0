using Evolution.Core.Model;

namespace Evolution.Cli.Bench;

/// <summary>Floating-point operation counts (multiply-add = 2 FLOPs).</summary>
public static class Flops
{
    /// <summary>
    /// Parameters that take part in matrix multiplies: per layer D·d_head·(2H + 2H_kv) for q, o, k, v (4D² in GPT-2) and
    /// 2·D·M for the MLP (3·D·M gated), plus the unembedding D·V.
    /// </summary>
    public static long MatmulParameters(GptConfig c) =>
        (long)c.NLayers * ((long)c.DModel * c.DHead * (2L * c.NHeads + 2L * c.KeyValueHeads) + (c.GatedMlp ? 3L : 2L) * c.DModel * c.DMlp)
        + (long)c.DModel * c.VocabSize;

    /// <summary>
    /// Training FLOPs per token, forward + backward: 6·N_matmul + 12·L·T·H·d_head for the attention
    /// scores and weighted values (Kaplan et al. 2020; PaLM appendix B; full T, not halved for causality).
    /// </summary>
    public static double TrainingPerToken(GptConfig c, int sequenceLength) =>
        6.0 * MatmulParameters(c) + 12.0 * c.NLayers * sequenceLength * c.NHeads * c.DHead;

    /// <summary>
    /// Forward FLOPs of scoring one row of <paramref name="tokens"/> tokens that reads <paramref name="readPositions"/> of
    /// them: 2·(N_matmul − D·V) per token, 4·L·T²·H·d_head for the scores and weighted values (full T: a packed row's mask
    /// saves no product), and the unembedding 2·D·V at the positions read only.
    /// </summary>
    public static double ScoringForward(GptConfig c, int tokens, int readPositions) =>
        2.0 * (MatmulParameters(c) - (long)c.DModel * c.VocabSize) * tokens + 4.0 * c.NLayers * tokens * (double)tokens * c.NHeads * c.DHead
        + 2.0 * c.DModel * c.VocabSize * readPositions;

    /// <summary>Forward FLOPs per token: a third of the training count.</summary>
    public static double ForwardPerToken(GptConfig c, int sequenceLength) => TrainingPerToken(c, sequenceLength) / 3;
}
