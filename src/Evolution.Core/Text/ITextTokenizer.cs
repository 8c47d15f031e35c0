namespace Evolution.Core.Text;

/// <summary>What the model, trainer and tracer need from a tokenizer.</summary>
public interface ITextTokenizer
{
    int VocabSize { get; }

    /// <summary>Id that separates documents (GPT-2's &lt;|endoftext|&gt;).</summary>
    int EndOfText { get; }

    /// <summary>Token ids of the text; text outside the vocabulary throws (never a silent wrong id).</summary>
    int[] Encode(string text);

    string Decode(IEnumerable<int> ids);

    /// <summary>Saves what is needed to rebuild this tokenizer into a checkpoint folder.</summary>
    void Save(string directory);
}
