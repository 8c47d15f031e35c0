using Evolution.Core.Text;
using Evolution.Mechanisms;

namespace Evolution.Agents;

/// <summary>
/// What the mechanism record of an answer given with peers is taken against, and how its analysis is condensed: one place
/// for the agents that own a model (<see cref="AgentRuntime"/>) and those that share a base
/// (<see cref="Population.AgentPopulation"/>), so a conformity step and a population's spread record the same thing.
/// </summary>
public static class PeerRecord
{
    /// <summary>
    /// The answer the record contrasts with the agent's own: the one most of the peers gave among those that differ from
    /// it (ties to the first in ordinal order); null when every peer agreed with the agent.
    /// </summary>
    public static string? PeersAnswer(string ownAnswer, IEnumerable<string> peerAnswers) =>
        peerAnswers.Select(a => a.TrimStart()).Where(a => a != ownAnswer.TrimStart()).GroupBy(a => a)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => g.Key).FirstOrDefault();

    /// <summary>
    /// The analysis of one answer read with peers, or null when it has none: the two answers start with the same token (no
    /// first-token logit difference to split), or no peer statement fit in the context. <paramref name="withPeers"/> is the
    /// agent's distribution over <paramref name="candidates"/> as it answered with the peers: the memorization ratio needs no
    /// scoring of its own when both answers are among them.
    /// </summary>
    public static PeerQuery? Query(ITextTokenizer tokenizer, string alone, string prompt, IReadOnlyList<string> sentences,
        IReadOnlyList<string> candidates, string ownAnswer, string peersAnswer, double[] withPeers)
    {
        string own = ownAnswer.TrimStart(), peers = peersAnswer.TrimStart();
        if (tokenizer.Encode(" " + peers)[0] == tokenizer.Encode(" " + own)[0]) return null;
        if (PeerText(prompt, sentences) is not var (at, text)) return null;
        var trimmed = candidates.Select(c => c.TrimStart()).ToList();
        int ownAt = trimmed.IndexOf(own), peersAt = trimmed.IndexOf(peers);
        (double, double)? logProbabilities = ownAt >= 0 && peersAt >= 0 && withPeers[ownAt] > 0 && withPeers[peersAt] > 0
            ? (Math.Log(withPeers[ownAt]), Math.Log(withPeers[peersAt])) : null;
        return new PeerQuery(new PeerReading(alone, prompt, at, at + text.Length), own, peers, logProbabilities);
    }

    /// <summary>
    /// Where the peers' statements sit in a prompt the agent reads: the character offset and text of the longest run of the
    /// last statements found in it (the context keeps the latest when it runs out of room); null when none fit.
    /// </summary>
    public static (int At, string Text)? PeerText(string prompt, IReadOnlyList<string> sentences)
    {
        for (int kept = sentences.Count; kept > 0; kept--)
        {
            var text = string.Join(" ", sentences.Skip(sentences.Count - kept));
            int at = prompt.LastIndexOf(text, StringComparison.Ordinal);
            if (at >= 0) return (at, text);
        }
        return null;
    }

    /// <summary>An analysis condensed to what is stored with the answer; <paramref name="seconds"/> is what it cost.</summary>
    public static PeerTrace Trace(PeerPressureResult r, double seconds)
    {
        var (layer, head) = Enumerable.Range(0, r.AttentionToPeers.Length).SelectMany(l => Enumerable.Range(0, r.AttentionToPeers[l].Length).Select(h => (l, h)))
            .MaxBy(lh => r.AttentionToPeers[lh.l][lh.h]);
        return new PeerTrace(r.PeersAnswer, r.LogitDifferenceAlone, r.LogitDifferenceWithPeers, r.MemorizationRatio,
            r.TowardsPeers.Take(3).Select(c => new ComponentShift(c.Component, c.Shift)).ToList(), $"L{layer}H{head}", r.AttentionToPeers[layer][head],
            r.AttentionToPeers.Select(heads => heads.Average()).ToList(), seconds);
    }
}
