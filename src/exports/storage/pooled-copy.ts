import { Writable } from 'node:stream';
import { ByteRange } from './export-store';

/** Bytes per read and per socket write, here and in the store's read streams: fewer syscalls than the 64 KiB default. */
export const READ_CHUNK = 1024 * 1024;
/** Chunks a copy has handed to the sink and not seen flushed: one being sent while the next is read. */
const IN_FLIGHT = 2;
/** Chunk buffers kept between copies (16 MiB): enough for several downloads at once, bounded for many. */
const POOL_MAX = 16;

/**
 * Chunk buffers a download gives back once the socket has flushed them. A download's read stream made
 * a new 1 MiB buffer per chunk, and in a server's heap the collections that external memory set off
 * were a sixth of a download's time (a bare file server's tiny heap hardly notices them); reused
 * buffers allocate nothing per chunk.
 */
const pool: Buffer[] = [];

function take(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK);
}

function giveBack(buf: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buf);
}

/** Reads up to `length` bytes at `position` into the start of `buf`; 0 at the end of the file. */
export type ReadAt = (buf: Buffer, length: number, position: number) => Promise<number>;

const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

function prematureClose(cause?: Error): Error {
  return Object.assign(new Error('the client closed the download', { cause }), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Copies bytes start..end (inclusive) of a file into `sink`, then ends it. A buffer goes back to the pool
 * only from the write's own callback without an error, that is once the sink has handed its bytes on,
 * so no byte is overwritten while the socket still holds it; a copy the client abandons leaves its
 * buffers to the collector. Fails with ERR_STREAM_PREMATURE_CLOSE when the sink closes or is reset
 * first, and with the byte it stopped at when the file is shorter than the range (a file changed under
 * the download is never sent padded).
 */
export async function copyRange(readAt: ReadAt, sink: Writable, range: ByteRange): Promise<void> {
  let onClose!: () => void;
  const gone = new Promise<never>((_, reject) => {
    onClose = () => {
      if (!sink.writableFinished) reject(prematureClose());
    };
  });
  gone.catch(() => undefined);
  sink.once('close', onClose);
  const write = (chunk: Buffer, buf: Buffer) =>
    new Promise<void>((resolve, reject) => {
      sink.write(chunk, (err) => {
        // A reset socket fails its writes (ECONNRESET, EPIPE): the client went away, as with a close.
        if (err) reject(sink.destroyed || CLIENT_GONE.has((err as NodeJS.ErrnoException).code ?? '') ? prematureClose(err) : err);
        else {
          giveBack(buf);
          resolve();
        }
      });
    });
  const sent: Promise<void>[] = [];
  try {
    for (let position = range.start; position <= range.end; ) {
      const buf = take();
      const length = Math.min(READ_CHUNK, range.end - position + 1);
      const n = await Promise.race([readAt(buf, length, position), gone]);
      if (n === 0) throw new Error(`the stored file ended at byte ${position}, before the ${range.end + 1} bytes it was read for`);
      position += n;
      const written = write(n === buf.length ? buf : buf.subarray(0, n), buf);
      written.catch(() => undefined); // awaited below; a failure before then is not unhandled
      sent.push(written);
      if (sent.length >= IN_FLIGHT) await Promise.race([sent.shift(), gone]);
    }
    await Promise.race([Promise.all(sent), gone]);
    await Promise.race([new Promise<void>((resolve) => sink.end(resolve)), gone]);
  } finally {
    sink.off('close', onClose);
  }
}
