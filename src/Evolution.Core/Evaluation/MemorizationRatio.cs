namespace Evolution.Core.Evaluation;

/// <summary>
/// The memorization ratio of Longpre et al. 2021 ("Entity-Based Knowledge Conflicts in Question Answering", §4):
/// how much a model holds to what it memorised against what a context (or an update) says. Their corpus-level
/// M_R = p_o / (p_o + p_s) counts predictions of the original and the substituted answer; per example we use the
/// same form over the two answers' probabilities, p_old / (p_old + p_new): 1 = memory wins, 0 = the new
/// answer wins. One definition for the conflict tracer, <c>compare-updates</c> and scenario metrics. Here, in Core,
/// because both the mechanisms and the update experiments use it and neither depends on the other.
/// </summary>
public static class MemorizationRatio
{
    /// <summary>
    /// From log-probabilities: 1 / (1 + exp(log p_new − log p_old)), the same ratio without forming the probabilities,
    /// which underflow for whole answer sequences. NaN when both are −∞ (neither answer has any probability).
    /// </summary>
    public static double OfLogProbabilities(double logOld, double logNew) => 1 / (1 + Math.Exp(logNew - logOld));

    /// <summary>p_old / (p_old + p_new), e.g. from an agent's softmax over its candidates; NaN when both are 0.</summary>
    public static double OfProbabilities(double pOld, double pNew) => OfLogProbabilities(Math.Log(pOld), Math.Log(pNew));

    /// <summary>Longpre et al.'s corpus form: predictions of the memorised answer over predictions of either answer; NaN when there are none.</summary>
    public static double OfCounts(int memorised, int substituted) => memorised + substituted == 0 ? double.NaN : memorised / (double)(memorised + substituted);
}
