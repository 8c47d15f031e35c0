using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Checkpoints;

/// <summary>A checkpoint file that is not a valid safetensors file; names the file and the offending tensor or field.</summary>
public sealed class CheckpointFormatException(string file, string? field, string problem)
    : InputException(file, field, problem);

/// <summary>One entry of a safetensors header.</summary>
public sealed record TensorEntry(string Name, string DType, long[] Shape, long Begin, long End);

public sealed record SafeTensorsHeader(IReadOnlyList<TensorEntry> Tensors, IReadOnlyDictionary<string, string> Metadata, long BufferStart);

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
/// <c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}</c>, then the
/// raw little-endian tensor bytes. No code is executed on load (unlike pickle). The reader checks
/// everything the reference implementation checks before touching the data.
/// </summary>
public static class SafeTensors
{
    /// <summary>Same bound as the reference implementation: a header above 100 MB is refused.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    public static SafeTensorsHeader ReadHeader(string path)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException(path, null, "file not found");
        using var stream = File.OpenRead(path);
        return ReadHeader(stream, path);
    }

    static SafeTensorsHeader ReadHeader(FileStream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < 8) throw new CheckpointFormatException(path, null, $"file has {fileLength} bytes, too short for the 8-byte header length");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes) throw new CheckpointFormatException(path, "header", $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        if ((long)headerLength > fileLength - 8) throw new CheckpointFormatException(path, "header", $"header length {headerLength} exceeds the file ({fileLength} bytes): truncated file?");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);

        JsonDocument document;
        try { document = JsonDocument.Parse(headerBytes); }
        catch (JsonException e) { throw new CheckpointFormatException(path, "header", $"header is not valid JSON: {e.Message}"); }
        using var _ = document;
        if (document.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointFormatException(path, "header", "header must be a JSON object");

        long bufferStart = 8 + (long)headerLength, bufferLength = fileLength - bufferStart;
        var metadata = new Dictionary<string, string>();
        var entries = new List<TensorEntry>();
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                if (property.Value.ValueKind != JsonValueKind.Object) throw new CheckpointFormatException(path, "__metadata__", "must be an object of strings");
                foreach (var m in property.Value.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw new CheckpointFormatException(path, $"__metadata__.{m.Name}", "must be a string");
                continue;
            }
            entries.Add(ParseEntry(property, path));
        }
        if (entries.Select(e => e.Name).Distinct().Count() != entries.Count)
            throw new CheckpointFormatException(path, "header", "duplicate tensor names");

        // Tensors must tile the buffer exactly: sorted by offset, each starts where the previous ended.
        long expectedBegin = 0;
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.End > bufferLength)
                throw new CheckpointFormatException(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] lie outside the {bufferLength}-byte data buffer");
            if (entry.Begin < expectedBegin)
                throw new CheckpointFormatException(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] overlap another tensor");
            if (entry.Begin > expectedBegin)
                throw new CheckpointFormatException(path, entry.Name, $"gap in the data buffer before offset {entry.Begin}");
            expectedBegin = entry.End;
        }
        if (expectedBegin != bufferLength)
            throw new CheckpointFormatException(path, "header", $"tensors cover {expectedBegin} of the {bufferLength} data bytes");
        return new SafeTensorsHeader(entries, metadata, bufferStart);
    }

    static TensorEntry ParseEntry(JsonProperty property, string path)
    {
        var name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object) throw new CheckpointFormatException(path, name, "entry must be an object with dtype, shape and data_offsets");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new CheckpointFormatException(path, $"{name}.dtype", "missing or not a string");
        var dtype = dtypeElement.GetString()!;
        if (!DTypes.TryGetValue(dtype, out var info))
            throw new CheckpointFormatException(path, $"{name}.dtype", $"unsupported dtype '{dtype}' (supported: {string.Join(", ", DTypes.Keys)})");
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new CheckpointFormatException(path, $"{name}.shape", "missing or not an array");
        var shape = shapeElement.EnumerateArray().Select(d =>
            d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var n) && n >= 0 ? n
                : throw new CheckpointFormatException(path, $"{name}.shape", $"dimension {d} is not a non-negative integer")).ToArray();
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new CheckpointFormatException(path, $"{name}.data_offsets", "must be [begin, end]");
        long Offset(int i) => offsets[i].ValueKind == JsonValueKind.Number && offsets[i].TryGetInt64(out var o) && o >= 0 ? o
            : throw new CheckpointFormatException(path, $"{name}.data_offsets", $"offset {offsets[i]} is not a non-negative integer");
        long begin = Offset(0), end = Offset(1);
        if (end < begin) throw new CheckpointFormatException(path, $"{name}.data_offsets", $"end {end} is before begin {begin}");
        long elements = 1;
        foreach (var d in shape) elements = checked(elements * d);
        long bytes = checked(elements * info.Size);
        if (bytes != end - begin)
            throw new CheckpointFormatException(path, name, $"shape [{string.Join(",", shape)}] × {dtype} ({info.Size} bytes) = {bytes} bytes, but data_offsets span {end - begin}");
        return new TensorEntry(name, dtype, shape, begin, end);
    }

    /// <summary>Reads and validates the file, then every tensor (or those the filter keeps), on <paramref name="device"/>.</summary>
    public static Dictionary<string, Tensor> Load(string path, Device? device = null, Func<string, bool>? nameFilter = null)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException(path, null, "file not found");
        using var stream = File.OpenRead(path);
        var header = ReadHeader(stream, path);
        var result = new Dictionary<string, Tensor>();
        foreach (var entry in header.Tensors)
        {
            if (nameFilter is not null && !nameFilter(entry.Name)) continue;
            var bytes = new byte[entry.End - entry.Begin];
            stream.Position = header.BufferStart + entry.Begin;
            stream.ReadExactly(bytes);
            var t = empty(entry.Shape, DTypes[entry.DType].Type);
            if (bytes.Length > 0) t.bytes = bytes;
            result[entry.Name] = device is null || device.type == DeviceType.CPU ? t : t.to(device);
        }
        return result;
    }

    /// <summary>
    /// Writes tensors (sorted by name, contiguous little-endian CPU bytes) and optional metadata.
    /// The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
    /// Written to a temporary file and renamed: never a half-written checkpoint.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var sorted = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        var payloads = new List<byte[]>();
        foreach (var (name, tensor) in sorted)
        {
            var dtype = DTypes.FirstOrDefault(d => d.Value.Type == tensor.dtype).Key
                ?? throw new ArgumentException($"tensor '{name}': dtype {tensor.dtype} cannot be stored in safetensors");
            using var cpu = tensor.detach().cpu().contiguous();
            var bytes = cpu.numel() == 0 ? [] : cpu.bytes.ToArray();
            header[name] = new { dtype, shape = tensor.shape, data_offsets = new[] { offset, offset + bytes.Length } };
            payloads.Add(bytes);
            offset += bytes.Length;
        }
        var json = JsonSerializer.Serialize(header);
        int padding = (8 - Encoding.UTF8.GetByteCount(json) % 8) % 8;
        var headerBytes = Encoding.UTF8.GetBytes(json + new string(' ', padding));
        AtomicFile.Write(path, temp =>
        {
            using var stream = File.Create(temp);
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
            stream.Write(length);
            stream.Write(headerBytes);
            foreach (var bytes in payloads) stream.Write(bytes);
        });
    }
}
