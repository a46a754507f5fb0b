using LanguageExt;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Domain.Wire;
using Bitswap.Runtime.Recording.Pb;
using Google.Protobuf;

namespace Bitswap.Runtime.Recording;

/// <summary>Converts inputs and headers to and from their log records (log.proto).</summary>
public static class LogCodec
{
    /// <summary>The format version this code writes and reads.</summary>
    public const uint FormatVersion = 1;

    /// <summary>The header record of a node's log.</summary>
    public static LogHeader Header(PeerId self, NodeConfig config) => new()
    {
        Format = FormatVersion,
        Self = ByteString.CopyFrom(self.Bytes),
        Seed = config.Seed,
        ServerEnabled = config.ServerEnabled,
        SendDontHaves = config.SendDontHaves,
        SimulateDontHaves = config.SimulateDontHaves,
        LimitsJson = JsonSerializer.Serialize(config.Limits, HeaderJson.Default.Limits),
        HadRequestFilter = config.RequestFilter is not null,
        Explain = config.Explain,
        BroadcastControlJson = JsonSerializer.Serialize(config.BroadcastControl, HeaderJson.Default.BroadcastControl),
    };

    /// <summary>
    /// The node identity and configuration a header describes (a request filter cannot be recorded: none). Explain is on
    /// whatever the recording node did, so a replay explains every decision.
    /// </summary>
    public static (PeerId Self, NodeConfig Config) FromHeader(LogHeader header)
    {
        if (header.Format != FormatVersion)
        {
            throw new InvalidDataException($"message log format {header.Format} is not {FormatVersion}");
        }

        var limits = JsonSerializer.Deserialize(header.LimitsJson, HeaderJson.Default.Limits) ?? Limits.Default;
        var broadcastControl = header.BroadcastControlJson.Length == 0
            ? BroadcastControl.Disabled
            : JsonSerializer.Deserialize(header.BroadcastControlJson, HeaderJson.Default.BroadcastControl) ?? BroadcastControl.Disabled;
        var config = new NodeConfig(limits, header.Seed, header.ServerEnabled, header.SendDontHaves, header.SimulateDontHaves, Explain: true)
        {
            BroadcastControl = broadcastControl,
        };
        return (Peer(header.Self), config);
    }

    /// <summary>The record of one input; <paramref name="version"/> is the version spoken with a message's sender, if known.</summary>
    public static LogInput Encode(Input input, ProtocolVersion? version = null)
    {
        var record = new LogInput { Now = input.Now };
        switch (input)
        {
            case PeerConnected connected:
                record.PeerConnected = new PeerConnectedRecord { Peer = Bytes(connected.Peer), Version = ToRecord(connected.Version), Traits = (uint)connected.Traits };
                break;
            case PeerDisconnected disconnected:
                record.PeerDisconnected = new PeerDisconnectedRecord { Peer = Bytes(disconnected.Peer) };
                break;
            case MessageReceived received:
                var message = new MessageReceivedRecord
                {
                    Peer = Bytes(received.Peer),
                    Protocol = ToRecord(version ?? ProtocolVersion.V120),
                    Message = ByteString.CopyFrom(MessageCodec.Encode(received.Message, ProtocolVersion.V120)),
                };
                message.LocalSizes.AddRange(received.LocalSizes.Select(kv => new SizeRecord { Cid = Bytes(kv.Key), Size = kv.Value }));
                record.MessageReceived = message;
                break;
            case MessageSent sent:
                record.MessageSent = new MessageSentRecord { Peer = Bytes(sent.Peer), Envelope = ToRecord(sent.Envelope) };
                break;
            case MessageFailed failed:
                record.MessageFailed = new MessageFailedRecord { Peer = Bytes(failed.Peer), Envelope = ToRecord(failed.Envelope), Reason = failed.Reason };
                break;
            case BlocksLoaded loaded:
                var blocksLoaded = new BlocksLoadedRecord { Peer = Bytes(loaded.Peer), Envelope = ToRecord(loaded.Envelope) };
                blocksLoaded.Blocks.AddRange(loaded.Blocks.Values.Select(ToRecord));
                record.BlocksLoaded = blocksLoaded;
                break;
            case BlocksAdded added:
                var blocksAdded = new BlocksAddedRecord();
                blocksAdded.Blocks.AddRange(added.Blocks.Select(ToRecord));
                record.BlocksAdded = blocksAdded;
                break;
            case TimerFired fired:
                record.TimerFired = new TimerFiredRecord
                {
                    Name = fired.Timer.Name,
                    Key = fired.Timer.Key,
                    Peer = fired.Timer.Peer is null ? ByteString.Empty : Bytes(fired.Timer.Peer),
                };
                break;
            case WantBlocks want:
                var wants = new WantBlocksRecord { Session = want.Session };
                wants.Cids.AddRange(want.Cids.Select(Bytes));
                record.WantBlocks = wants;
                break;
            case CancelWants cancel:
                var cancels = new CancelWantsRecord { Session = cancel.Session };
                cancels.Cids.AddRange(cancel.Cids.Select(Bytes));
                record.CancelWants = cancels;
                break;
            case CloseSession close:
                record.CloseSession = new CloseSessionRecord { Session = close.Session };
                break;
            case ProvidersFound found:
                var providers = new ProvidersFoundRecord { Session = found.Session, Cid = Bytes(found.Cid) };
                providers.Providers.AddRange(found.Providers.Select(Bytes));
                record.ProvidersFound = providers;
                break;
            default:
                throw new UnreachableException($"input {input.GetType().Name}");
        }

        return record;
    }

    /// <summary>The input a record describes; throws <see cref="InvalidDataException"/> for a corrupt record.</summary>
    public static Input Decode(LogInput record, Limits limits)
    {
        var now = record.Now;
        return record.InputCase switch
        {
            LogInput.InputOneofCase.PeerConnected => new PeerConnected(now, Peer(record.PeerConnected.Peer), FromRecord(record.PeerConnected.Version), (PeerTraits)record.PeerConnected.Traits),
            LogInput.InputOneofCase.PeerDisconnected => new PeerDisconnected(now, Peer(record.PeerDisconnected.Peer)),
            LogInput.InputOneofCase.MessageReceived => new MessageReceived(
                now,
                Peer(record.MessageReceived.Peer),
                DecodeMessage(record.MessageReceived.Message, limits),
                record.MessageReceived.LocalSizes.Aggregate(Map<Cid, int>.Empty, (map, s) => map.AddOrUpdate(Cid(s.Cid), s.Size))),
            LogInput.InputOneofCase.MessageSent => new MessageSent(now, Peer(record.MessageSent.Peer), FromRecord(record.MessageSent.Envelope)),
            LogInput.InputOneofCase.MessageFailed => new MessageFailed(now, Peer(record.MessageFailed.Peer), FromRecord(record.MessageFailed.Envelope), record.MessageFailed.Reason),
            LogInput.InputOneofCase.BlocksLoaded => new BlocksLoaded(
                now,
                FromRecord(record.BlocksLoaded.Envelope),
                Peer(record.BlocksLoaded.Peer),
                record.BlocksLoaded.Blocks.Select(FromRecord).Aggregate(Map<Cid, Block>.Empty, (map, b) => map.AddOrUpdate(b.Cid, b))),
            LogInput.InputOneofCase.BlocksAdded => new BlocksAdded(now, record.BlocksAdded.Blocks.Select(FromRecord).ToSeq()),
            LogInput.InputOneofCase.TimerFired => new TimerFired(now, new TimerId(
                TimerId.KindOf(record.TimerFired.Name).IfNone(() => throw new InvalidDataException($"unknown timer {record.TimerFired.Name}")),
                record.TimerFired.Key,
                record.TimerFired.Peer.IsEmpty ? null : Peer(record.TimerFired.Peer))),
            LogInput.InputOneofCase.WantBlocks => new WantBlocks(now, record.WantBlocks.Session, record.WantBlocks.Cids.Select(Cid).ToSeq()),
            LogInput.InputOneofCase.CancelWants => new CancelWants(now, record.CancelWants.Session, record.CancelWants.Cids.Select(Cid).ToSeq()),
            LogInput.InputOneofCase.CloseSession => new CloseSession(now, record.CloseSession.Session),
            LogInput.InputOneofCase.ProvidersFound => new ProvidersFound(
                now,
                record.ProvidersFound.Session,
                Cid(record.ProvidersFound.Cid),
                record.ProvidersFound.Providers.Select(Peer).ToSeq()),
            _ => throw new InvalidDataException($"log record holds no known input ({record.InputCase})"),
        };
    }

    private static Message DecodeMessage(ByteString bytes, Limits limits) =>
        // A recorded message passed the live node's checks already; the size cap is lifted so a replay never refuses it.
        MessageCodec.Decode(bytes.Span, ProtocolVersion.V120, limits with { MessageBytesMax = int.MaxValue })
            .Match(m => m, e => throw new InvalidDataException($"recorded message does not decode: {e}"));

    private static ByteString Bytes(PeerId peer) => ByteString.CopyFrom(peer.Bytes);

    private static ByteString Bytes(Cid cid) => ByteString.CopyFrom(cid.Bytes);

    private static PeerId Peer(ByteString bytes) =>
        PeerId.FromBytes(bytes.Span).Match(p => p, e => throw new InvalidDataException($"recorded peer ID: {e}"));

    private static Cid Cid(ByteString bytes) =>
        Domain.Multiformats.Cid.FromBytes(bytes.Span).Match(c => c, e => throw new InvalidDataException($"recorded CID: {e}"));

    private static BlockRecord ToRecord(Block block) => new() { Cid = Bytes(block.Cid), Data = ByteString.CopyFrom(block.Data.Span) };

    private static Block FromRecord(BlockRecord record) =>
        Block.Verified(Cid(record.Cid), record.Data.ToByteArray()).Match(b => b, e => throw new InvalidDataException($"recorded block: {e}"));

    private static EnvelopeRecord ToRecord(EnvelopeId envelope) => new() { Side = (uint)envelope.Side, Sequence = envelope.Sequence };

    private static EnvelopeId FromRecord(EnvelopeRecord? record) => record is null
        ? throw new InvalidDataException("recorded envelope missing")
        : new EnvelopeId(record.Side switch
        {
            0 => Side.Server,
            1 => Side.Client,
            _ => throw new InvalidDataException($"recorded envelope side {record.Side}"),
        }, record.Sequence);

    private static Pb.Version ToRecord(ProtocolVersion version) => version switch
    {
        ProtocolVersion.V100 => Pb.Version.V100,
        ProtocolVersion.V110 => Pb.Version.V110,
        ProtocolVersion.V120 => Pb.Version.V120,
        _ => throw new UnreachableException($"version {version}"),
    };

    private static ProtocolVersion FromRecord(Pb.Version version) => version switch
    {
        Pb.Version.V100 => ProtocolVersion.V100,
        Pb.Version.V110 => ProtocolVersion.V110,
        Pb.Version.V120 => ProtocolVersion.V120,
        _ => throw new InvalidDataException($"recorded version {version}"),
    };
}

/// <summary>The header's JSON, generated at build time: no reflection, so a trimmed build (bench/publish-cli.sh) reads and writes it too.</summary>
[JsonSerializable(typeof(Limits))]
[JsonSerializable(typeof(BroadcastControl))]
internal sealed partial class HeaderJson : JsonSerializerContext;
