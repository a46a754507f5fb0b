namespace Bitswap.Transport.Tcp;

/// <summary>Marker for the transport assembly.</summary>
internal static class AssemblyMarker;
