using LanguageExt;
using Bitswap.Domain;
using Bitswap.Domain.Multiformats;
using Bitswap.Runtime.Recording.Pb;
using Google.Protobuf;

namespace Bitswap.Runtime.Recording;

/// <summary>A message log read back: the node it came from and its inputs in processing order.</summary>
/// <param name="Self">The recording node.</param>
/// <param name="Config">Its configuration (without a request filter, which cannot be recorded).</param>
/// <param name="Inputs">Every input the loop processed, in order.</param>
public sealed record MessageLog(PeerId Self, NodeConfig Config, Seq<Input> Inputs);

/// <summary>Reads a message log written by <see cref="MessageLogWriter"/>.</summary>
public static class MessageLogReader
{
    /// <summary>Reads a whole log; throws <see cref="InvalidDataException"/> when it is not one.</summary>
    public static MessageLog Read(Stream stream)
    {
        if (!stream.CanSeek)
        {
            // Only a seekable stream says where it ends without a failed read; logs are small enough to buffer.
            var buffered = new MemoryStream();
            stream.CopyTo(buffered);
            buffered.Position = 0;
            stream = buffered;
        }

        try
        {
            return ReadAll(stream);
        }
        catch (InvalidProtocolBufferException error)
        {
            throw new InvalidDataException("corrupt message log", error);
        }
    }

    private static MessageLog ReadAll(Stream stream)
    {
        var first = ReadEntry(stream) ?? throw new InvalidDataException("the message log is empty");
        if (first.KindCase != LogEntry.KindOneofCase.Header)
        {
            throw new InvalidDataException("a message log starts with its header");
        }

        var (self, config) = LogCodec.FromHeader(first.Header);
        var inputs = new List<Input>();
        while (ReadEntry(stream) is { } entry)
        {
            if (entry.KindCase != LogEntry.KindOneofCase.Input)
            {
                throw new InvalidDataException($"unexpected {entry.KindCase} record after the header");
            }

            inputs.Add(LogCodec.Decode(entry.Input, config.Limits));
        }

        return new MessageLog(self, config, inputs.ToSeq());
    }

    /// <summary>Reads a log from bytes.</summary>
    public static MessageLog Read(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return Read(stream);
    }

    private static LogEntry? ReadEntry(Stream stream) =>
        stream.Position >= stream.Length ? null : LogEntry.Parser.ParseDelimitedFrom(stream);
}
