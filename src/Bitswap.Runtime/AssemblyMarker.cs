namespace Bitswap.Runtime;

/// <summary>Marker for the runtime assembly.</summary>
internal static class AssemblyMarker;
