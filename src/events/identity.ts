/**
 * An event's identity (Obelisk's): timestamp in µs, dataset, metric, source and producer. Stored as a
 * 128-bit hash of those parts in one column under a unique index: a plain unique index over the parts
 * would let events without a source or producer repeat (NULLs never collide in a unique index), and
 * MariaDB's index key limit is shorter than the parts can be.
 *
 * The hash is not cryptographic, on purpose: seed and ingest compute one per event, and a SHA-256 per
 * row halved the seed rate. Nothing is gained by a hash that is hard to collide on purpose: whoever may
 * write to a dataset can replace any of its events by sending that event's identity anyway.
 */
export function eventIdentity(datasetId: number, ts: number, metric: string, source: string | null, producerUserId: string | null, producerClientId: string | null): Buffer {
  // JSON keeps null apart from "null" and every part apart from its neighbours.
  return hash128(JSON.stringify([datasetId, ts, metric, source, producerUserId, producerClientId]));
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
