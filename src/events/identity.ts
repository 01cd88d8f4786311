/**
 * An event's identity (Obelisk's): timestamp in µs, dataset, metric, source and producer, stored in one
 * column under a unique index: a plain unique index over the parts would let events without a source
 * or producer repeat (NULLs never collide in a unique index), and MariaDB's index key limit is shorter
 * than the parts can be.
 *
 * The key keeps the order of (dataset, timestamp): 4 bytes of dataset id, 8 of timestamp, both
 * big-endian, then 12 bytes (96 bits) of a hash of the rest. Ingest and seed write mostly in time order
 * per dataset, so their keys land near the right edge of the index, on pages already in memory; a key
 * that is a hash through and through lands every insert on a random page, and once the index outgrows
 * the buffer pool each one costs a read (seeds of 1 000 000 events on MariaDB, alternating: about
 * 102 000/s with a hash key, 134 000/s with this one and a leaner seed, the server using a quarter less CPU and writing
 * 30 % fewer bytes). The hash only has to tell apart events of one dataset at one microsecond: 96 bits keep
 * even 20 000 series sharing a timestamp far from a collision (about 2.5e-21 for that instant).
 *
 * The hash is not cryptographic, on purpose: seed and ingest compute one per event, and a SHA-256 per
 * row halved the seed rate. Nothing is gained by a hash that is hard to collide on purpose: whoever may
 * write to a dataset can replace any of its events by sending that event's identity anyway.
 */
export const IDENTITY_BYTES = 24;
const SERIES_HASH_BYTES = 12;

const TWO_32 = 0x1_0000_0000;

export function eventIdentity(datasetId: number, ts: number, metric: string, source: string | null, producerUserId: string | null, producerClientId: string | null): Buffer {
  return identityOf(datasetId, ts, seriesHash(metric, source, producerUserId, producerClientId));
}

/** The hashed part of an identity: the same for every event of one series, so a writer may keep it. */
export function seriesHash(metric: string, source: string | null, producerUserId: string | null, producerClientId: string | null): Buffer {
  // JSON keeps null apart from "null" and every part apart from its neighbours.
  return hash128(JSON.stringify([metric, source, producerUserId, producerClientId])).subarray(0, SERIES_HASH_BYTES);
}

/** The identity of the event at `ts` (µs) in `datasetId` of the series whose seriesHash is `series`. */
export function identityOf(datasetId: number, ts: number, series: Buffer): Buffer {
  const out = Buffer.allocUnsafe(IDENTITY_BYTES);
  out.writeUInt32BE(datasetId >>> 0, 0);
  // The timestamp as a signed 64-bit integer with its sign bit flipped, so the bytes sort as the numbers do.
  const high = Math.floor(ts / TWO_32);
  out.writeUInt32BE((high ^ 0x8000_0000) >>> 0, 4);
  out.writeUInt32BE(ts - high * TWO_32, 8);
  series.copy(out, 12, 0, SERIES_HASH_BYTES);
  return out;
}

/** cyrb128: four interleaved 32-bit multiply-xor lanes over the UTF-16 code units, then a final mix. */
export function hash128(text: string): Buffer {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  const out = Buffer.allocUnsafe(16);
  out.writeUInt32BE(h1 >>> 0, 0);
  out.writeUInt32BE(h2 >>> 0, 4);
  out.writeUInt32BE(h3 >>> 0, 8);
  out.writeUInt32BE(h4 >>> 0, 12);
  return out;
}
