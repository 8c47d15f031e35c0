using Evolution.Core.Model;

namespace Evolution.Cli.Bench;

/// <summary>Floating-point operation counts (multiply-add = 2 FLOPs).</summary>
public static class Flops
{
    /// <summary>Parameters that take part in matrix multiplies: per layer 4D² (q,k,v,o) + 2·D·M (MLP), plus the unembedding D·V.</summary>
    public static long MatmulParameters(GptConfig c) =>
        (long)c.NLayers * (4L * c.DModel * c.DModel + 2L * c.DModel * c.DMlp) + (long)c.DModel * c.VocabSize;

    /// <summary>
    /// Training FLOPs per token, forward + backward: 6·N_matmul + 12·L·T·D for the attention
    /// scores and weighted values (Kaplan et al. 2020; PaLM appendix B; full T, not halved for causality).
    /// </summary>
    public static double TrainingPerToken(GptConfig c, int sequenceLength) =>
        6.0 * MatmulParameters(c) + 12.0 * c.NLayers * sequenceLength * c.DModel;

    /// <summary>Forward FLOPs per token: a third of the training count.</summary>
    public static double ForwardPerToken(GptConfig c, int sequenceLength) => TrainingPerToken(c, sequenceLength) / 3;
}
