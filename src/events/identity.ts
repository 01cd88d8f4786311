import crypto from 'node:crypto';

/**
 * An event's identity (Obelisk's): timestamp in µs, dataset, metric, source and producer. Stored as the
 * first 16 bytes of a SHA-256 of those parts, so one short unique index keeps it: a plain unique index
 * over the parts would let events without a source or producer repeat (NULLs never collide in a unique
 * index), and MariaDB's index key limit is shorter than the parts can be.
 */
export function eventIdentity(datasetId: number, ts: number, metric: string, source: string | null, producerUserId: string | null, producerClientId: string | null): Buffer {
  // JSON keeps null apart from "null" and every part apart from its neighbours.
  return crypto.hash('sha256', JSON.stringify([datasetId, ts, metric, source, producerUserId, producerClientId]), 'buffer').subarray(0, 16);
}
