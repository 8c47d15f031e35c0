using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Tests;

public class ScalarsTests
{
    [Fact]
    public void CachedIntegersKeepAnIntegerTensorIntegral()
    {
        // An integer Scalar, as TorchSharp's own implicit alpha of 1 was: a double would fail or promote.
        using var counts = tensor(new long[] { 3, 4 });
        using var sum = counts.add(counts, Scalars.One);
        Assert.Equal(ScalarType.Int64, sum.dtype);
        Assert.Equal(new long[] { 6, 8 }, sum.data<long>().ToArray());
        using var squared = counts.pow(Scalars.Two);
        Assert.Equal(ScalarType.Int64, squared.dtype);
        Assert.Equal(new long[] { 9, 16 }, squared.data<long>().ToArray());
        using var halved = tensor(new[] { 3f }).mul(Scalars.Half).add(Scalars.MinusOne, Scalars.One);
        Assert.Equal(0.5f, halved.item<float>());
    }

    [Fact]
    public void ReadsConvertAsTorchSharpsConversionsDo()
    {
        using var value = tensor(2.75f);
        Assert.Equal(2.75f, value.ReadSingle());
        Assert.Equal(2.75, value.ReadDouble());
        Assert.Equal(2L, value.ReadInt64()); // truncates, like Scalar.ToInt64
        using var count = tensor(41L);
        Assert.Equal(41, count.ReadInt32());
        Assert.Equal(41.0, count.ReadDouble());
        using var flag = tensor(true);
        Assert.True(flag.ReadBoolean());
    }
}
