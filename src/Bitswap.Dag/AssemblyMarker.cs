namespace Bitswap.Dag;

/// <summary>Marker for the DAG assembly.</summary>
internal static class AssemblyMarker;
