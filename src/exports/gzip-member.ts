import zlib from 'node:zlib';

/**
 * One gzip member made of pieces deflated apart (on different threads): each piece is raw deflate ended
 * by a sync flush, so it holds no final block and starts on a byte boundary; pieces laid end to end are
 * one deflate stream, because a piece's back-references reach only into its own text. The member gets
 * one header, one final empty block, and the CRC-32 and length of all the text.
 *
 * One member, not one per piece: browsers' gzip decoding (Chromium's, for one) stops after the first
 * member, so a multi-member download arrived as its first piece alone.
 */

/** Level 6, as `gzip -6`: every piece's fresh dictionary costs about 0.5 % per MB of text. */
export const PIECE_DEFLATE = { level: 6, finishFlush: zlib.constants.Z_SYNC_FLUSH } as const;

/** The text of a piece deflated for GzipMember: non-final blocks, ending on a byte boundary. */
export function deflatePiece(text: Buffer): Buffer {
  return text.length ? zlib.deflateRawSync(text, PIECE_DEFLATE) : Buffer.alloc(0);
}

/** Header: deflate, no name or extra field, no time (the same data gives the same bytes), Unix. */
export const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
/** A final block of fixed Huffman codes holding only its end code: where the deflate stream ends. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);

/** The member is GZIP_HEADER, then each piece as deflatePiece made it, then `end()`. */
export class GzipMember {
  private crc = 0;
  private length = 0;

  /** Counts a piece's text into the trailer's CRC-32 and length. */
  add(text: Buffer): void {
    this.crc = zlib.crc32(text, this.crc);
    this.length += text.length;
  }

  /** Bytes that end the member: the final empty block and the trailer. */
  end(): Buffer {
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.length % 2 ** 32, 4);
    return Buffer.concat([FINAL_EMPTY_BLOCK, trailer]);
  }
}
