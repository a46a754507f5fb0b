namespace Bitswap.Tests.Interop;

/// <summary>Marker so the project compiles before its first tests land.</summary>
internal static class AssemblyMarker;
