using LanguageExt;
using Bitswap.Domain;
using Bitswap.Testing;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using FsCheck;
using FsCheck.Fluent;

namespace Bitswap.Tests.Properties;

/// <summary>One scripted step against a client; indexes pick from small pools so that events collide often.</summary>
public abstract record ClientOp
{
    /// <summary>Applies the step to a driver.</summary>
    public abstract void Run(NodeHarness driver);
}

/// <summary>Peer <paramref name="Peer"/> connects, speaking 1.2.0 or (if <paramref name="Old"/>) 1.1.0.</summary>
public sealed record ConnectOp(int Peer, bool Old) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) =>
        driver.Connect(ClientFixtures.Peer(Peer), Old ? ProtocolVersion.V110 : ProtocolVersion.V120);
}

/// <summary>Peer <paramref name="Peer"/> disconnects.</summary>
public sealed record DisconnectOp(int Peer) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) => driver.Disconnect(ClientFixtures.Peer(Peer));
}

/// <summary>A session wants blocks.</summary>
public sealed record WantOp(int Session, int[] Blocks) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) => driver.Want(Session, ClientFixtures.Cids(Blocks));

    /// <inheritdoc />
    public override string ToString() => $"WantOp({Session}, [{string.Join(",", Blocks)}])";
}

/// <summary>A session cancels blocks.</summary>
public sealed record CancelOp(int Session, int[] Blocks) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) => driver.Cancel(Session, ClientFixtures.Cids(Blocks));

    /// <inheritdoc />
    public override string ToString() => $"CancelOp({Session}, [{string.Join(",", Blocks)}])";
}

/// <summary>A session closes.</summary>
public sealed record CloseOp(int Session) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) => driver.Post(new CloseSession(driver.Now, Session));
}

/// <summary>A peer sends a block, which we may already hold.</summary>
public sealed record BlockOp(int Peer, int Block, bool Held) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver)
    {
        var block = ClientFixtures.BlockOf(Block);
        driver.ReceiveBlocks(ClientFixtures.Peer(Peer), [block], Held ? [block.Cid] : null);
    }
}

/// <summary>A peer sends HAVE or DONT_HAVE.</summary>
public sealed record PresenceOp(int Peer, int Block, bool Have) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) =>
        driver.ReceivePresences(ClientFixtures.Peer(Peer), (ClientFixtures.CidOf(Block), Have ? PresenceType.Have : PresenceType.DontHave));
}

/// <summary>A block is added locally.</summary>
public sealed record AddedOp(int Block) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) => driver.Post(new BlocksAdded(driver.Now, new[] { ClientFixtures.BlockOf(Block) }.ToSeq()));
}

/// <summary>Routing found a provider for a session's want.</summary>
public sealed record ProvidersOp(int Session, int Block, int Peer) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) =>
        driver.Post(new ProvidersFound(driver.Now, Session, ClientFixtures.CidOf(Block), new[] { ClientFixtures.Peer(Peer) }.ToSeq()));
}

/// <summary>The shell confirms (or fails) the oldest envelope in flight.</summary>
public sealed record AckOp(bool Fail) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) => driver.AckOldest(Fail);
}

/// <summary>Virtual time passes, firing timers.</summary>
public sealed record AdvanceOp(int Ms) : ClientOp
{
    /// <inheritdoc />
    public override void Run(NodeHarness driver) => driver.Advance(Ms);
}

/// <summary>A random client script and the message cap to run it with.</summary>
/// <param name="Ops">The steps.</param>
/// <param name="MessageCapBytes">The client message byte cap (small, so splitting happens).</param>
/// <param name="Seed">The client's seed.</param>
public sealed record ClientScript(ClientOp[] Ops, int MessageCapBytes, ulong Seed)
{
    /// <summary>Peers in the pool.</summary>
    public const int PeerCount = 4;

    /// <summary>Blocks in the pool.</summary>
    public const int BlockCount = 12;

    /// <summary>Sessions in the pool (ids 1..).</summary>
    public const int SessionCount = 3;

    /// <summary>The config the script runs with.</summary>
    public ClientConfig Config => new(Limits.Default with { ClientMessageBytesMax = MessageCapBytes }, Seed);

    /// <summary>Runs the script on a fresh driver (manual acks), without settling.</summary>
    public NodeHarness Run()
    {
        var driver = TestNodes.Client(Config, autoAck: false);
        foreach (var op in Ops) op.Run(driver);
        return driver;
    }

    /// <summary>Runs the script, then lets the client settle: every envelope confirmed and debounces fired.</summary>
    public NodeHarness RunAndSettle()
    {
        var driver = Run();
        driver.AckAll();
        driver.AutoAck = true;
        driver.Advance(5_000);
        return driver;
    }

    /// <inheritdoc />
    public override string ToString() => $"cap={MessageCapBytes} seed={Seed}\n  " + string.Join("\n  ", Ops.Select(o => o.ToString()));
}

/// <summary>Generators for the client reducers.</summary>
public static partial class Arbitraries
{
    /// <summary>Random client scripts over small pools of peers, blocks and sessions, with acks and time passing.</summary>
    public static Arbitrary<ClientScript> ClientScripts() => Arb.From(ClientScriptGen, ShrinkClientScript);

    /// <summary>Random (peer, CID, presence) records for the presence table.</summary>
    public static Arbitrary<PresenceRecord[]> PresenceRecords() =>
        Arb.From(Gen.ArrayOf(
            from peer in Gen.Choose(0, 3)
            from block in Gen.Choose(0, 5)
            from have in Gen.Elements(true, false)
            select new PresenceRecord(peer, block, have)));

    private static Gen<int[]> BlockSet =>
        from count in Gen.Choose(1, 5)
        from blocks in Gen.ArrayOf(Gen.Choose(0, ClientScript.BlockCount - 1), count)
        select blocks;

    private static Gen<ClientOp> ClientOpGen
    {
        get
        {
            var peer = Gen.Choose(0, ClientScript.PeerCount - 1);
            var block = Gen.Choose(0, ClientScript.BlockCount - 1);
            var session = Gen.Choose(1, ClientScript.SessionCount);
            var flag = Gen.Elements(true, false);
            return Gen.Frequency(
                (6, from p in peer from old in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true))) select (ClientOp)new ConnectOp(p, old)),
                (1, peer.Select(p => (ClientOp)new DisconnectOp(p))),
                (6, from s in session from b in BlockSet select (ClientOp)new WantOp(s, b)),
                (2, from s in session from b in BlockSet select (ClientOp)new CancelOp(s, b)),
                (1, session.Select(s => (ClientOp)new CloseOp(s))),
                (3, from p in peer from b in block from h in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true))) select (ClientOp)new BlockOp(p, b, h)),
                (6, from p in peer from b in block from h in flag select (ClientOp)new PresenceOp(p, b, h)),
                (1, block.Select(b => (ClientOp)new AddedOp(b))),
                (1, from s in session from b in block from p in peer select (ClientOp)new ProvidersOp(s, b, p)),
                (6, Gen.Frequency((6, Gen.Constant(false)), (1, Gen.Constant(true))).Select(f => (ClientOp)new AckOp(f))),
                (4, Gen.Elements(1, 10, 25, 100, 1_000, 6_000, 16_000, 31_000).Select(ms => (ClientOp)new AdvanceOp(ms))));
        }
    }

    private static Gen<ClientScript> ClientScriptGen =>
        from length in Gen.Choose(5, 60)
        from ops in Gen.ArrayOf(ClientOpGen, length)
        from cap in Gen.Choose(80, 600)
        from seed in Gen.Choose(0, int.MaxValue)
        select new ClientScript(ops, cap, (ulong)seed);

    private static IEnumerable<ClientScript> ShrinkClientScript(ClientScript script)
    {
        var ops = script.Ops;
        for (var chunk = ops.Length / 2; chunk >= 1; chunk /= 2)
            for (var start = 0; start + chunk <= ops.Length; start += chunk)
                yield return script with { Ops = [.. ops.Take(start), .. ops.Skip(start + chunk)] };
    }
}

/// <summary>One presence record for the presence-table property.</summary>
/// <param name="Peer">Peer index.</param>
/// <param name="Block">Block index.</param>
/// <param name="Have">HAVE if true, else DONT_HAVE.</param>
public sealed record PresenceRecord(int Peer, int Block, bool Have)
{
    /// <summary>The presence type.</summary>
    public PresenceType Type => Have ? PresenceType.Have : PresenceType.DontHave;

    /// <summary>The peer.</summary>
    public PeerId PeerId => ClientFixtures.Peer(Peer);

    /// <summary>The CID.</summary>
    public Cid Cid => ClientFixtures.CidOf(Block);
}
