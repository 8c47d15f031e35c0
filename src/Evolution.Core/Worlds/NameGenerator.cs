using Microsoft.ML.Tokenizers;

namespace Evolution.Core.Worlds;

/// <summary>
/// Synthetic proper names from syllables, unique across the world, each at least two cl100k
/// tokens long (so "the last subject token" differs from the first, as in real models), and no
/// name a word-prefix of another (so a prompt never already contains a different answer).
/// </summary>
public sealed class NameGenerator(Random random)
{
    static readonly string[] Onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "tr", "st", "th", "sh", "gr", "pl", "qu"];
    static readonly string[] Vowels = ["a", "e", "i", "o", "u", "ai", "ei", "ou", "ae"];
    static readonly string[] Codas = ["", "", "", "n", "r", "l", "s", "m", "th", "x", "nd", "rk"];
    static readonly Dictionary<string, string[]> Suffixes = new()
    {
        ["country"] = ["ia", "ovia", "land", "aria", "eth", "ostan", "ador"],
        ["city"] = ["burg", "mund", "ville", "grad", "port", "ford", "haven", "stad"],
        ["company"] = [" Systems", " Labs", " Works", " Industries", " Group", " Dynamics", " Holdings", " Foods"],
        ["university"] = [" University", " Institute", " College", " Academy"],
    };
    static readonly Lazy<TiktokenTokenizer> Cl100k = new(() => TiktokenTokenizer.CreateForEncoding("cl100k_base"));

    readonly HashSet<string> used = new(StringComparer.Ordinal);

    string Word(int minSyllables, int maxSyllables)
    {
        int syllables = random.Next(minSyllables, maxSyllables + 1);
        var word = string.Concat(Enumerable.Range(0, syllables).Select(i =>
            Onsets[random.Next(Onsets.Length)] + Vowels[random.Next(Vowels.Length)] + (i == syllables - 1 ? Codas[random.Next(Codas.Length)] : "")));
        return char.ToUpperInvariant(word[0]) + word[1..];
    }

    public string Next(string type)
    {
        for (int attempt = 0; attempt < 10_000; attempt++)
        {
            var name = type switch
            {
                "person" => $"{Word(2, 2)} {Word(2, 3)}",
                "university" => Word(2, 3) + Pick(Suffixes[type]),
                "company" => Word(2, 2) + Pick(Suffixes[type]),
                _ => Word(1, 2) + Pick(Suffixes[type]),
            };
            if (Acceptable(name))
            {
                used.Add(name);
                return name;
            }
        }
        throw new InvalidOperationException($"could not generate a unique {type} name; the world is too large for the syllable set");
    }

    bool Acceptable(string name)
    {
        if (used.Contains(name)) return false;
        if (Cl100k.Value.EncodeToIds(" " + name).Count < 2) return false;
        foreach (var other in used)
            if (other.StartsWith(name + " ", StringComparison.Ordinal) || name.StartsWith(other + " ", StringComparison.Ordinal)) return false;
        return true;
    }

    string Pick(string[] options) => options[random.Next(options.Length)];
}
