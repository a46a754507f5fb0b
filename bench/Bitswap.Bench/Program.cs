// Benchmarks land with the performance work; see README "Figures".
System.Console.WriteLine("bitswap benchmarks: run with -c Release -- --filter *");
