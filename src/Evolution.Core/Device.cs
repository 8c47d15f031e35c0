using TorchSharp;

namespace Evolution.Core;

/// <summary>Chooses the torch device from a user option: "cpu", "cuda", or "auto" (CUDA when present).</summary>
public static class Devices
{
    public static torch.Device Parse(string? name)
    {
        switch ((name ?? "auto").Trim().ToLowerInvariant())
        {
            case "cpu":
                return torch.CPU;
            case "cuda":
                if (!torch.cuda.is_available())
                    throw new ArgumentException("device 'cuda' was asked for, but no CUDA device or CUDA libtorch is available (build with -p:EvolutionTorchBackend=cuda-linux)");
                return torch.CUDA;
            case "auto":
                return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
            default:
                throw new ArgumentException($"unknown device '{name}': use cpu, cuda or auto");
        }
    }
}
