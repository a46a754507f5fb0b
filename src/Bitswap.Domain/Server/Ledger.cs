using Bitswap.Domain.Multiformats;

namespace Bitswap.Domain;

/// <summary>What a peer and we have exchanged, as boxo's <c>Receipt</c>: Value = sent/(recv+1).</summary>
/// <param name="Peer">The peer.</param>
/// <param name="Value">Bytes sent divided by (bytes received + 1).</param>
/// <param name="Sent">Block bytes we sent the peer.</param>
/// <param name="Recv">Block bytes the peer sent us.</param>
/// <param name="Exchanged">Blocks exchanged either way.</param>
public sealed record Receipt(PeerId Peer, double Value, long Sent, long Recv, long Exchanged);

/// <summary>
/// The accounting of one peer (boxo scoreledger): bytes and blocks each way, the last exchange, and the usefulness score
/// kept as two exponentially weighted moving averages that the "engine-score" timer advances.
/// </summary>
/// <param name="BytesSent">Block bytes we sent.</param>
/// <param name="BytesReceived">Block bytes we received.</param>
/// <param name="Exchanged">Blocks exchanged either way.</param>
/// <param name="LastExchange">When a block last moved either way, in shell milliseconds.</param>
/// <param name="ShortScore">Short-term EWMA (alpha 0.5, one step per score period).</param>
/// <param name="LongScore">Long-term EWMA (alpha 0.05, one step every ten score periods).</param>
/// <param name="ExchangedSinceShort">True when a block moved since the last short-term step.</param>
/// <param name="ExchangedSinceLong">True when a block moved since the last long-term step.</param>
public sealed record PeerLedger(
    long BytesSent,
    long BytesReceived,
    long Exchanged,
    Option<long> LastExchange,
    double ShortScore,
    double LongScore,
    bool ExchangedSinceShort,
    bool ExchangedSinceLong)
{
    // boxo scoreledger.go: shortTerm = 10 s with alpha 0.5, longTerm = 10 × shortTerm with alpha 0.05, target 10.
    private const double ShortAlpha = 0.5;
    private const double LongAlpha = 0.05;
    private const double ActiveTarget = 10.0;

    /// <summary>Long-term steps happen once every this many short-term steps (boxo longTermRatio).</summary>
    public const int LongTermRatio = 10;

    /// <summary>A ledger with nothing exchanged.</summary>
    public static readonly PeerLedger Empty = new(0, 0, 0, Option<long>.None, 0, 0, false, false);

    /// <summary>Accounts a block we sent.</summary>
    public PeerLedger BlockSent(int bytes, long now) => this with
    {
        BytesSent = BytesSent + bytes,
        Exchanged = Exchanged + 1,
        LastExchange = now,
        ExchangedSinceShort = true,
        ExchangedSinceLong = true,
    };

    /// <summary>Accounts a block we received.</summary>
    public PeerLedger BlockReceived(int bytes, long now) => this with
    {
        BytesReceived = BytesReceived + bytes,
        Exchanged = Exchanged + 1,
        LastExchange = now,
        ExchangedSinceShort = true,
        ExchangedSinceLong = true,
    };

    /// <summary>
    /// One score period passed: the short EWMA moves toward 10 if a block moved since the last step, else toward 0;
    /// when <paramref name="longStep"/> is set the long EWMA does the same with its own alpha.
    /// </summary>
    public PeerLedger ScoreTick(bool longStep)
    {
        var shortScore = Ewma(ShortScore, ExchangedSinceShort ? ActiveTarget : 0, ShortAlpha);
        var longScore = longStep ? Ewma(LongScore, ExchangedSinceLong ? ActiveTarget : 0, LongAlpha) : LongScore;
        return this with
        {
            ShortScore = shortScore,
            LongScore = longScore,
            ExchangedSinceShort = false,
            ExchangedSinceLong = longStep ? false : ExchangedSinceLong,
        };
    }

    /// <summary>
    /// The usefulness score boxo tags the connection with: (short + long) × (0.75 + 0.5 × recv/(recv+sent)), so peers that
    /// give us data rank higher than peers that only take it.
    /// </summary>
    public double Score
    {
        get
        {
            var total = BytesReceived + BytesSent;
            var giving = total == 0 ? 0.0 : (double)BytesReceived / total;
            return (ShortScore + LongScore) * (0.75 + 0.5 * giving);
        }
    }

    /// <summary>The receipt for this ledger.</summary>
    public Receipt ToReceipt(PeerId peer) => new(peer, BytesSent / (BytesReceived + 1.0), BytesSent, BytesReceived, Exchanged);

    private static double Ewma(double previous, double sample, double alpha) => alpha * sample + (1 - alpha) * previous;
}
