using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Tests;

public class TorchLoadsTests
{
    [Fact]
    public void MatmulAndAutogradWork()
    {
        var a = tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 }, requires_grad: true);
        var y = a.matmul(a).sum();
        y.backward();
        Assert.Equal(1 * 1 + 2 * 3 + 1 * 2 + 2 * 4 + 3 * 1 + 4 * 3 + 3 * 2 + 4 * 4, y.item<float>());
        Assert.NotNull(a.grad);
    }
}
