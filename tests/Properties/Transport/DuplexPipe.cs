using System.IO.Pipelines;

namespace Bitswap.Tests.Properties.Transport;

/// <summary>Two in-memory streams wired back to back: what one writes, the other reads (System.IO.Pipelines underneath).</summary>
public static class DuplexPipe
{
    /// <summary>Creates a connected pair; disposing one end completes the other end's reads with EOF.</summary>
    public static (Stream Left, Stream Right) CreatePair()
    {
        var leftToRight = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var rightToLeft = new Pipe(new PipeOptions(useSynchronizationContext: false));
        return (new End(rightToLeft.Reader, leftToRight.Writer), new End(leftToRight.Reader, rightToLeft.Writer));
    }

    private sealed class End(PipeReader reader, PipeWriter writer) : Stream
    {
        private readonly Stream _reader = reader.AsStream();
        private readonly Stream _writer = writer.AsStream();

        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Flush() => _writer.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => _writer.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => _reader.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => _reader.Read(buffer);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            _reader.ReadAsync(buffer, offset, count, cancellationToken);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _reader.ReadAsync(buffer, cancellationToken);
        public override void Write(byte[] buffer, int offset, int count) => _writer.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => _writer.Write(buffer);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            _writer.WriteAsync(buffer, offset, count, cancellationToken);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            _writer.WriteAsync(buffer, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                writer.Complete();
                reader.Complete();
            }
            base.Dispose(disposing);
        }
    }
}
