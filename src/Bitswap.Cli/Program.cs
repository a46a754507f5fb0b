using Bitswap.Domain;

// Placeholder until the CLI issue lands: computes the CID of a generated block, so the main-job line runs something real.
var block = Block.Raw("hello world"u8.ToArray());
Console.WriteLine($"{block.Cid} {block.Size} bytes");
return 0;
