namespace Evolution.Updates.Tests;

public class FluencyTests
{
    [Fact]
    public void NGramEntropyMatchesRomesDefinitionOnKnownStrings()
    {
        // "a b c d": 3 distinct bi-grams (log2 3 bits), 2 distinct tri-grams (1 bit); weights 2/3 and 4/3, averaged.
        Assert.Equal((2.0 / 3 * Math.Log2(3) + 4.0 / 3 * 1) / 2, Fluency.NGramEntropy("a b c d"), 12);
        Assert.Equal(0, Fluency.NGramEntropy("Pellamund Pellamund Pellamund Pellamund Pellamund"));
        Assert.Equal(0, Fluency.NGramEntropy("one"));
        // Punctuation marks are tokens, as in NLTK's word_tokenize.
        Assert.Equal(Fluency.NGramEntropy("a b c d"), Fluency.NGramEntropy("a b c."));
    }

    [Fact]
    public void RepetitiveGenerationsScoreLowerThanVariedOnes()
    {
        var varied = "Kemtaro Drassil was born in Pellamund. Kemtaro Drassil works for Zorvex Labs and studied at Ostravel University.";
        var looping = "Kemtaro Drassil was born in Pellamund Pellamund Pellamund Pellamund Pellamund Pellamund Pellamund Pellamund Pellamund.";
        Assert.True(Fluency.NGramEntropy(varied) > Fluency.NGramEntropy(looping) + 1, $"{Fluency.NGramEntropy(varied)} vs {Fluency.NGramEntropy(looping)}");
        Assert.Equal((Fluency.NGramEntropy(varied) + Fluency.NGramEntropy(looping)) / 2, Fluency.Mean([varied, looping]), 12);
        Assert.True(double.IsNaN(Fluency.Mean([])));
    }
}
