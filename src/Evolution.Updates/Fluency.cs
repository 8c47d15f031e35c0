using System.Text.RegularExpressions;

namespace Evolution.Updates;

/// <summary>
/// Fluency as ROME and EasyEdit measure it (Meng et al. 2022, <c>n_gram_entropy</c>): per generated text,
/// the Shannon entropy in bits of its word bi-gram and tri-gram frequency distributions, weighted 2/3 and
/// 4/3 and averaged; then the mean over texts. A model that repeats itself after an edit ("X X X X …")
/// scores low; varied text scores high. Tokens are words and punctuation marks, as NLTK's word_tokenize.
/// </summary>
public static partial class Fluency
{
    static readonly (int N, double Weight)[] Grams = [(2, 2.0 / 3), (3, 4.0 / 3)];

    /// <summary>The weighted bi/tri-gram entropy of one text (0 for a text too short to have a bi-gram).</summary>
    public static double NGramEntropy(string text)
    {
        var tokens = Token().Matches(text).Select(m => m.Value).ToList();
        return Grams.Average(g => g.Weight * Entropy(tokens, g.N));
    }

    /// <summary>The mean <see cref="NGramEntropy"/> over texts (NaN when there are none).</summary>
    public static double Mean(IEnumerable<string> texts) => texts.Select(NGramEntropy).DefaultIfEmpty(double.NaN).Average();

    static double Entropy(IReadOnlyList<string> tokens, int n)
    {
        int total = tokens.Count - n + 1;
        if (total <= 0) return 0;
        var counts = Enumerable.Range(0, total).GroupBy(i => string.Join("\u0001", tokens.Skip(i).Take(n)), StringComparer.Ordinal).Select(g => g.Count());
        return counts.Sum(c => { double p = c / (double)total; return -p * Math.Log2(p); });
    }

    [GeneratedRegex(@"[\p{L}\p{N}]+|[^\p{L}\p{N}\s]")]
    private static partial Regex Token();
}
