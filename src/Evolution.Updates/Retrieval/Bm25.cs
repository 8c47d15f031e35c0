using System.Text.RegularExpressions;

namespace Evolution.Updates.Retrieval;

/// <summary>
/// Okapi BM25 (Robertson &amp; Zaragoza 2009): score(q, d) = Σ_t idf(t) · f(t,d)(k1+1) / (f(t,d) + k1(1 − b + b|d|/avgdl)),
/// idf(t) = ln(1 + (N − n_t + 0.5)/(n_t + 0.5)); k1 = 1.2, b = 0.75. Terms are lower-cased words.
/// </summary>
public sealed partial class Bm25(double k1 = 1.2, double b = 0.75)
{
    readonly List<Dictionary<string, int>> documents = [];
    readonly Dictionary<string, int> documentFrequency = new(StringComparer.Ordinal);
    long totalLength;

    public int Count => documents.Count;

    /// <summary>Adds a document; its index is the order of addition.</summary>
    public void Add(string text)
    {
        var terms = Terms(text).GroupBy(t => t, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        documents.Add(terms);
        totalLength += terms.Values.Sum();
        foreach (var term in terms.Keys) documentFrequency[term] = documentFrequency.GetValueOrDefault(term) + 1;
    }

    /// <summary>Removes the document at <paramref name="index"/>; the later ones move up by one.</summary>
    public void RemoveAt(int index)
    {
        var terms = documents[index];
        documents.RemoveAt(index);
        totalLength -= terms.Values.Sum();
        foreach (var term in terms.Keys)
            if (--documentFrequency[term] == 0) documentFrequency.Remove(term);
    }

    /// <summary>The top-k documents for the query, best first (ties: earlier document first); only documents
    /// <paramref name="include"/> accepts, when given (the statistics stay those of the whole collection).</summary>
    public IReadOnlyList<(int Index, double Score)> Search(string query, int k, Func<int, bool>? include = null)
    {
        if (documents.Count == 0) return [];
        double averageLength = totalLength / (double)documents.Count;
        var queryTerms = Terms(query).Distinct(StringComparer.Ordinal).Where(documentFrequency.ContainsKey).ToList();
        var idf = queryTerms.ToDictionary(t => t, t => Math.Log(1 + (documents.Count - documentFrequency[t] + 0.5) / (documentFrequency[t] + 0.5)), StringComparer.Ordinal);
        var scores = new List<(int, double)>();
        for (int d = 0; d < documents.Count; d++)
        {
            if (include is not null && !include(d)) continue;
            var doc = documents[d];
            int length = doc.Values.Sum();
            double score = 0;
            foreach (var term in queryTerms)
            {
                if (!doc.TryGetValue(term, out var f)) continue;
                score += idf[term] * f * (k1 + 1) / (f + k1 * (1 - b + b * length / averageLength));
            }
            if (score > 0) scores.Add((d, score));
        }
        return scores.OrderByDescending(s => s.Item2).ThenBy(s => s.Item1).Take(k).ToList();
    }

    public static IEnumerable<string> Terms(string text) => Word().Matches(text.ToLowerInvariant()).Select(m => m.Value);

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Word();
}
