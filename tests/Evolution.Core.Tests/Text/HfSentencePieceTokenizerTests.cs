using System.Text;
using Evolution.Core.Text;

namespace Evolution.Core.Tests.Text;

/// <summary>
/// A SentencePiece tokenizer.model written by the test as protobuf bytes (sentencepiece_model.proto's
/// ModelProto: pieces with piece/score/type, trainer_spec with model_type BPE, byte_fallback and the
/// unk/bos/eos ids, normalizer_spec with the dummy prefix), laid out as Llama 2's: &lt;unk&gt;, &lt;s&gt;,
/// &lt;/s&gt;, the 256 byte pieces, then the BPE pieces whose scores order the merges.
/// </summary>
public class HfSentencePieceTokenizerTests
{
    /// <summary>BPE pieces and their scores: SentencePiece merges the adjacent pair whose union scores highest.</summary>
    static readonly (string Piece, float Score)[] Pieces =
    [
        ("he", -1), ("ll", -2), ("▁he", -3), ("llo", -4), ("▁hello", -5), ("or", -6), ("▁w", -7), ("▁wor", -8), ("ld", -9), ("▁world", -10),
        ("▁", -20), ("h", -21), ("e", -22), ("l", -23), ("o", -24), ("w", -25), ("r", -26), ("d", -27),
    ];

    const int Normal = 1, Unknown = 2, Control = 3, Byte = 6;
    const int FirstPiece = 3 + 256;

    /// <summary>Writes tokenizer.model (and, when given, tokenizer_config.json) into a new folder.</summary>
    public static string WriteToyModel(string? tokenizerConfig = null)
    {
        var model = new Proto();
        void Piece(string piece, float score, int type) => model.Message(1, new Proto().String(1, piece).Float(2, score).Varint(3, type));
        Piece("<unk>", 0, Unknown);
        Piece("<s>", 0, Control);
        Piece("</s>", 0, Control);
        for (int b = 0; b < 256; b++) Piece($"<0x{b:X2}>", 0, Byte);
        foreach (var (piece, score) in Pieces) Piece(piece, score, Normal);

        model.Message(2, new Proto()
            .Varint(3, 2) // model_type: BPE
            .Varint(4, FirstPiece + Pieces.Length) // vocab_size
            .Varint(35, 1) // byte_fallback
            .Varint(40, 0).Varint(41, 1).Varint(42, 2).Varint(43, -1)); // unk_id, bos_id, eos_id, pad_id
        model.Message(3, new Proto()
            .String(1, "identity")
            .Varint(3, 1) // add_dummy_prefix
            .Varint(4, 0) // remove_extra_whitespaces
            .Varint(5, 1)); // escape_whitespaces

        var dir = Directory.CreateTempSubdirectory("hfsp-").FullName;
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), model.ToArray());
        if (tokenizerConfig is not null) File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tokenizerConfig);
        return dir;
    }

    static int Id(string piece) => FirstPiece + Array.FindIndex(Pieces, p => p.Piece == piece);
    static int ByteId(int b) => 3 + b;

    /// <summary>
    /// Google SentencePiece's ids for this very file: its C++ library compiled to WebAssembly
    /// (@agnai/sentencepiece-js 1.1.1, <c>SentencePieceProcessor.load</c> then <c>encodeIds</c>) in Node 20,
    /// run by a throwaway script outside the repository. They show the dummy prefix, merge order by
    /// score (" hello" keeps a lone "▁"), byte fallback for characters without a piece (i, é, ö, 🙂) and
    /// whitespace runs.
    /// </summary>
    public static readonly (string Text, int[] Ids)[] KnownIds =
    [
        ("hello world", [263, 268]),
        ("hello", [263]),
        (" hello", [269, 263]),
        ("hi", [269, 270, 108]),
        ("héllo wörld", [269, 270, 198, 172, 262, 265, 198, 185, 275, 267]),
        ("the world", [269, 119, 259, 268]),
        ("a  b", [269, 100, 269, 269, 101]),
        ("🙂", [269, 243, 162, 156, 133]),
        ("world hello ", [268, 263, 269]),
    ];

    [Fact]
    public void EncodesAsSentencePieceDoes()
    {
        var tokenizer = HfTokenizers.Load(WriteToyModel());
        Assert.IsType<HfSentencePieceTokenizer>(tokenizer);
        Assert.Equal(263, Id("▁hello")); // the layout the known ids assume
        foreach (var (text, ids) in KnownIds)
        {
            Assert.Equal(ids, tokenizer.Encode(text));
            Assert.Equal(text, tokenizer.Decode(ids));
        }
        Assert.Equal([ByteId('i')], tokenizer.Encode("hi")[2..]);
    }

    [Fact]
    public void BosAndEosComeFromTheModelUnlessTokenizerConfigSays()
    {
        var tokenizer = HfTokenizers.Load(WriteToyModel());
        Assert.Equal(FirstPiece + Pieces.Length, tokenizer.VocabSize);
        Assert.Equal((1, 2, 2), (tokenizer.BosId, tokenizer.EosId, tokenizer.EndOfText));
        // Never BOS from Encode; control tokens written in the text are matched, as Hugging Face's Llama tokenizer does.
        Assert.Equal([Id("▁hello"), 2, 1, Id("▁world")], tokenizer.Encode("hello</s><s> world"));
        Assert.Equal("hello</s><s> world", tokenizer.Decode(tokenizer.Encode("hello</s><s> world")));

        var overridden = HfTokenizers.Load(WriteToyModel("""{"bos_token": null, "eos_token": {"content": "<s>", "special": true}}"""));
        Assert.Equal((null, 1, 1), (overridden.BosId, overridden.EosId, overridden.EndOfText));
    }

    [Fact]
    public void SaveCopiesTheModelAndTheIds()
    {
        var tokenizer = HfTokenizers.Load(WriteToyModel());
        var saved = Path.Combine(Directory.CreateTempSubdirectory("hfsp-saved-").FullName, "tok");
        tokenizer.Save(saved);
        Assert.Equal(new[] { "tokenizer.model", "tokenizer_config.json" }, Directory.GetFiles(saved).Select(Path.GetFileName).Order());
        var reloaded = HfTokenizers.Load(saved);
        Assert.Equal((tokenizer.BosId, tokenizer.EosId), (reloaded.BosId, reloaded.EosId));
        Assert.Equal(tokenizer.Encode("héllo wörld"), reloaded.Encode("héllo wörld"));
    }

    [Fact]
    public void ASentencePieceStyleTokenizerJsonDefersToTokenizerModel()
    {
        // Llama 2, TinyLlama and Mistral folders carry both; their tokenizer.json is BPE over "▁" pieces, not byte-level.
        var dir = WriteToyModel();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), """
            {"version": "1.0", "added_tokens": [],
             "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
             "pre_tokenizer": null,
             "model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0, "▁": 1}, "merges": []}}
            """);
        Assert.IsType<HfSentencePieceTokenizer>(HfTokenizers.Load(dir));
    }

    [Fact]
    public void ACorruptModelIsNamed()
    {
        var dir = Directory.CreateTempSubdirectory("hfsp-").FullName;
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), [0xFF, 0xFF, 0xFF, 0x01, 0x02]);
        var error = Assert.Throws<InputException>(() => HfTokenizers.Load(dir));
        Assert.Contains("tokenizer.model", error.Message);
    }

    /// <summary>Protobuf wire format, just enough for a ModelProto.</summary>
    sealed class Proto
    {
        readonly MemoryStream bytes = new();

        public Proto Varint(int field, long value)
        {
            Tag(field, 0);
            WriteVarint((ulong)value); // a negative int32 is its 64-bit two's complement, ten bytes
            return this;
        }

        public Proto Float(int field, float value)
        {
            Tag(field, 5);
            bytes.Write(BitConverter.GetBytes(value));
            return this;
        }

        public Proto String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public Proto Message(int field, Proto message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => bytes.ToArray();

        Proto Bytes(int field, byte[] value)
        {
            Tag(field, 2);
            WriteVarint((ulong)value.Length);
            bytes.Write(value);
            return this;
        }

        void Tag(int field, int wireType) => WriteVarint((ulong)(field << 3 | wireType));

        void WriteVarint(ulong value)
        {
            while (value >= 0x80)
            {
                bytes.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }
            bytes.WriteByte((byte)value);
        }
    }
}
