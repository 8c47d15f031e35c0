namespace Evolution.Core;

/// <summary>
/// Derives child seeds deterministically (FNV-1a over the parts). Never use HashCode or
/// string.GetHashCode for seeds: .NET randomises them per process.
/// </summary>
public static class Seeds
{
    public static int Mix(params object[] parts)
    {
        unchecked
        {
            uint hash = 2166136261;
            foreach (var part in parts)
            {
                foreach (var c in part.ToString() ?? "") hash = (hash ^ c) * 16777619;
                hash = (hash ^ 0x1F) * 16777619; // part separator: ("1","23") differs from ("12","3")
            }
            return (int)(hash & int.MaxValue);
        }
    }
}
