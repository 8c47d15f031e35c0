using Evolution.Core.Text;

namespace Evolution.Core.Tests.Text;

public class CompactTokenizerTests
{
    static readonly string[] Corpus =
    [
        "Kemtaro Drassil was born in Valdoria.",
        "Q: Where was Kemtaro Drassil born? A: Valdoria",
        "The capital of Ostrevia is Pellamund.",
    ];

    [Fact]
    public void RoundTripsEveryTextItWasBuiltFrom()
    {
        var tokenizer = CompactTokenizer.Build(Corpus);
        foreach (var text in Corpus)
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        // far fewer ids than cl100k's 100k
        Assert.InRange(tokenizer.VocabSize, 10, 100);
    }

    [Fact]
    public void IdsAreDenseAndSpecialsComeFirst()
    {
        var tokenizer = CompactTokenizer.Build(Corpus);
        var ids = Corpus.SelectMany(tokenizer.Encode).ToHashSet();
        Assert.All(ids, id => Assert.InRange(id, 2, tokenizer.VocabSize - 1));
        Assert.Equal(tokenizer.VocabSize - 2, ids.Count); // every non-special id is used by some text
        Assert.Equal("<|endoftext|> Valdoria", tokenizer.Decode([tokenizer.EndOfText, .. tokenizer.Encode(" Valdoria")]));
    }

    [Fact]
    public void TextOutsideTheVocabularyIsAnErrorOrAnExplicitUnknown()
    {
        var tokenizer = CompactTokenizer.Build(Corpus);
        var error = Assert.Throws<InputException>(() => tokenizer.Encode("Where was Zyx born?"));
        Assert.Contains("not in this model's vocabulary", error.Message);
        var ids = tokenizer.Encode("Where was Zyx born?", allowUnknown: true);
        Assert.Contains(tokenizer.Unknown, ids);
        Assert.Contains("<|unk|>", tokenizer.Decode(ids));
    }

    [Fact]
    public void SavedTokenizerLoadsIdentically()
    {
        var tokenizer = CompactTokenizer.Build(Corpus);
        var dir = Directory.CreateTempSubdirectory("tok").FullName;
        tokenizer.Save(dir);
        var loaded = CompactTokenizer.Load(dir);
        Assert.Equal(tokenizer.VocabSize, loaded.VocabSize);
        foreach (var text in Corpus) Assert.Equal(tokenizer.Encode(text), loaded.Encode(text));
    }

    [Fact]
    public void CorruptTokenizerFileNamesFileAndField()
    {
        var dir = Directory.CreateTempSubdirectory("tok").FullName;
        File.WriteAllText(Path.Combine(dir, CompactTokenizer.FileName), """{"Kind":"compact-tiktoken","Base":"cl100k_base","Specials":[],"Ids":[5,3]}""");
        var error = Assert.Throws<InputException>(() => CompactTokenizer.Load(dir));
        Assert.Contains(CompactTokenizer.FileName, error.Message);
        Assert.Contains("ids[1]", error.Message);
    }
}
