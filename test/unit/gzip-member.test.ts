import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { deflatePiece, GZIP_HEADER, GzipMember } from '../../src/exports/gzip-member';

/** Pieces deflated apart, laid end to end as GzipMember writes them. */
function stitched(texts: Buffer[]): Buffer {
  const member = new GzipMember();
  const pieces = texts.map((t) => {
    member.add(t);
    return deflatePiece(t);
  });
  return Buffer.concat([GZIP_HEADER, ...pieces, member.end()]);
}

/** Python's zlib reads one member and says whether anything follows it: a reader that is not Node's. */
function pythonReads(file: Buffer): { bytes: number; eof: boolean; after: number } {
  const script = 'import sys,zlib,json\nd=zlib.decompressobj(31)\no=d.decompress(sys.stdin.buffer.read())\nprint(json.dumps({"bytes":len(o),"eof":d.eof,"after":len(d.unused_data)}))';
  return JSON.parse(execFileSync('python3', ['-c', script], { input: file }).toString());
}

describe('one gzip member from pieces deflated apart', () => {
  const texts = [Buffer.from('timestamp,value\n'), Buffer.from('1,2.5\n'.repeat(200_000)), Buffer.from('é,"x"\n'.repeat(3)), Buffer.from('9,9\n'.repeat(70_000))];

  test('reads back whole as one member, with the CRC-32 and length of all the text', () => {
    const file = stitched(texts);
    const text = Buffer.concat(texts);
    expect(zlib.gunzipSync(file).equals(text)).toBe(true);
    expect(pythonReads(file)).toEqual({ bytes: text.length, eof: true, after: 0 });
    expect(file.readUInt32LE(file.length - 8)).toBe(zlib.crc32(text) >>> 0);
    expect(file.readUInt32LE(file.length - 4)).toBe(text.length);
    execFileSync('gzip', ['-t', '-'], { input: file }); // throws on a bad file
  });

  test('no piece at all is still a valid, empty gzip file', () => {
    const file = stitched([]);
    expect(zlib.gunzipSync(file).length).toBe(0);
    expect(pythonReads(file)).toEqual({ bytes: 0, eof: true, after: 0 });
  });

  test('the same pieces give the same bytes, about the size of one deflate stream', () => {
    expect(stitched(texts).equals(stitched(texts))).toBe(true);
    const one = zlib.gzipSync(Buffer.concat(texts), { level: 6 }).length;
    expect(stitched(texts).length).toBeLessThan(one * 1.05);
  });
});
