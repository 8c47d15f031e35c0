using System.Buffers.Binary;
using System.Text;
using Evolution.Core.Checkpoints;
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

    static string WriteBytes(byte[] bytes)
    {
        var path = TempFile();
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
