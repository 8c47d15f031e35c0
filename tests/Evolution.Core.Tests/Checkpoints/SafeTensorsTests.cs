using System.Buffers.Binary;
using System.Text;
using Evolution.Core.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Checkpoints;

public class SafeTensorsTests
{
    static string TempFile() => Path.Combine(Directory.CreateTempSubdirectory("st").FullName, "model.safetensors");

    /// <summary>Writes a file byte by byte: header length, header JSON, data.</summary>
    static string RawFile(string headerJson, int dataBytes, long? declaredHeaderLength = null)
    {
        var path = TempFile();
        var header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(declaredHeaderLength ?? header.Length));
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void RoundTripIsBitExactAcrossDtypesAndShapes()
    {
        var path = TempFile();
        var tensors = new Dictionary<string, Tensor>
        {
            ["a.weight"] = randn(3, 4),
            ["b.half"] = randn(5).to(ScalarType.Float16),
            ["c.bf16"] = randn(2, 2).to(ScalarType.BFloat16),
            ["d.ids"] = tensor(new long[] { 1, -2, long.MaxValue }),
            ["e.scalar"] = tensor(3.5),
            ["f.empty"] = zeros(0, 7),
            ["g.mask"] = tensor(new[] { true, false, true }),
            ["h.f64"] = randn(2, 1, 3, dtype: ScalarType.Float64),
            ["i.i32"] = tensor(new[] { int.MinValue, 0, int.MaxValue }),
            ["j.i16"] = tensor(new short[] { -7, 300 }),
            ["k.i8"] = tensor(new sbyte[] { -128, 127 }),
            ["l.u8"] = tensor(new byte[] { 0, 255 }),
            ["m.empty-int"] = zeros(new long[] { 2, 0 }, dtype: ScalarType.Int64),
        };
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var loaded = SafeTensors.Load(path);
        Assert.Equal(tensors.Keys.Order(), loaded.Keys.Order());
        foreach (var (name, original) in tensors)
        {
            Assert.Equal(original.dtype, loaded[name].dtype);
            Assert.Equal(original.shape, loaded[name].shape);
            Assert.Equal(original.bytes.ToArray(), loaded[name].bytes.ToArray());
        }
        Assert.Equal("pt", SafeTensors.ReadHeader(path).Metadata["format"]);
        Assert.Equal(0, SafeTensors.ReadHeader(path).BufferStart % 8); // header padded to 8 bytes
    }

    [Fact]
    public void HandWrittenFileFollowsTheFormat()
    {
        // Two little-endian F32 values 1.0 and -2.0 as a [2] tensor.
        var path = RawFile("""{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 8), 1f);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 4), -2f);
        File.WriteAllBytes(path, bytes);
        var x = SafeTensors.Load(path)["x"];
        Assert.Equal(new[] { 1f, -2f }, x.data<float>().ToArray());
    }

    [Theory]
    [InlineData("truncated", "too short")]
    [InlineData("header-larger-than-file", "truncated file")]
    [InlineData("oversized-header", "limit")]
    [InlineData("bad-json", "not valid JSON")]
    [InlineData("unknown-dtype", "unsupported dtype")]
    [InlineData("wrong-dtype-size", "data_offsets span")]
    [InlineData("offsets-out-of-range", "outside")]
    [InlineData("overlap", "overlap")]
    [InlineData("negative-dim", "not a non-negative integer")]
    [InlineData("end-before-begin", "before begin")]
    [InlineData("gap", "uncovered")]
    [InlineData("trailing-bytes", "trailing bytes")]
    [InlineData("duplicate-name", "appears twice")]
    [InlineData("not-an-object", "must be a JSON object")]
    [InlineData("shape-overflow", "overflows")]
    [InlineData("metadata-not-string", "must be a string")]
    [InlineData("invalid-utf8", "not valid JSON")]
    public void CorruptFilesAreRejectedWithFileAndProblem(string corruption, string expected)
    {
        string path = corruption switch
        {
            "truncated" => WriteBytes([1, 2, 3]),
            "header-larger-than-file" => RawFile("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4, declaredHeaderLength: 10_000),
            "oversized-header" => RawFile("{}", 0, declaredHeaderLength: SafeTensors.MaxHeaderBytes + 1),
            "bad-json" => RawFile("""{"x": {"dtype": """, 0),
            "unknown-dtype" => RawFile("""{"x":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}""", 4),
            "wrong-dtype-size" => RawFile("""{"x":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}""", 8),
            "offsets-out-of-range" => RawFile("""{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8),
            "overlap" => RawFile("""{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12),
            "negative-dim" => RawFile("""{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4),
            "end-before-begin" => RawFile("""{"x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", 4),
            "gap" => RawFile("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12),
            "trailing-bytes" => RawFile("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 8),
            "duplicate-name" => RawFile("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8),
            "not-an-object" => RawFile("[1, 2]", 0),
            "shape-overflow" => RawFile("""{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}""", 4),
            "metadata-not-string" => RawFile("""{"__metadata__":{"step":3}}""", 0),
            "invalid-utf8" => RawBytesHeader([(byte)'{', 0xFF, (byte)'}']),
            _ => throw new ArgumentException(corruption),
        };
        var error = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
        Assert.IsAssignableFrom<InputException>(error);
    }

    [Fact]
    public void ErrorsNameTheOffendingTensor()
    {
        var path = RawFile("""{"good":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"blocks.0.bad":{"dtype":"F32","shape":[3],"data_offsets":[4,8]}}""", 8);
        var error = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Load(path));
        Assert.Contains("blocks.0.bad", error.Message);
    }

    [Fact]
    public void SaveWritesTheReferenceLayoutByteForByte()
    {
        // Pins the writer: sorted names, compact JSON, metadata first, header space-padded to 8 bytes.
        var path = TempFile();
        SafeTensors.Save(path, new Dictionary<string, Tensor>
        {
            ["b"] = tensor(new short[] { 7 }),
            ["a"] = tensor(new[] { 1f, -2f }),
        }, new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(path);
        var json = """{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I16","shape":[1],"data_offsets":[8,10]}}""";
        json += new string(' ', (8 - json.Length % 8) % 8);
        Assert.Equal((ulong)json.Length, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(json, Encoding.UTF8.GetString(bytes, 8, json.Length));
        var data = bytes.AsSpan(8 + json.Length);
        Assert.Equal(10, data.Length);
        Assert.Equal(1f, BinaryPrimitives.ReadSingleLittleEndian(data));
        Assert.Equal(-2f, BinaryPrimitives.ReadSingleLittleEndian(data[4..]));
        Assert.Equal(7, BinaryPrimitives.ReadInt16LittleEndian(data[8..]));
    }

    [Fact]
    public void SaveIsAtomicAndLeavesNoTemporaryFiles()
    {
        var path = TempFile();
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["x"] = ones(3) });
        // A failing save (unsupported dtype) leaves the previous file intact and nothing else behind.
        Assert.ThrowsAny<ArgumentException>(() => SafeTensors.Save(path, new Dictionary<string, Tensor> { ["x"] = ones(3), ["z"] = ones(2, dtype: ScalarType.ComplexFloat32) }));
        Assert.Equal(new[] { "model.safetensors" }, Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
        Assert.Equal(new[] { 1f, 1f, 1f }, SafeTensors.Load(path)["x"].data<float>().ToArray());
    }

    [Fact]
    public void LoadKeepsOnlyFilteredNamesAndSavesNonContiguousTensors()
    {
        var path = TempFile();
        using var six = 6.ToScalar();
        var matrix = arange(Scalars.Zero, six, Scalars.One, dtype: ScalarType.Float32).reshape(2, 3);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["keep.t"] = matrix.t(), ["drop"] = zeros(5) });
        var loaded = SafeTensors.Load(path, CPU, name => name.StartsWith("keep", StringComparison.Ordinal));
        Assert.Equal(new[] { "keep.t" }, loaded.Keys);
        Assert.Equal(new long[] { 3, 2 }, loaded["keep.t"].shape);
        Assert.Equal(new[] { 0f, 3f, 1f, 4f, 2f, 5f }, loaded["keep.t"].data<float>().ToArray());
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid(), "model.safetensors");
        var error = Assert.Throws<CheckpointFormatException>(() => SafeTensors.ReadHeader(path));
        Assert.Contains(path, error.Message);
    }

    static string RawBytesHeader(byte[] header)
    {
        var bytes = new byte[8 + header.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return WriteBytes(bytes);
    }

    static string WriteBytes(byte[] bytes)
    {
        var path = TempFile();
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
