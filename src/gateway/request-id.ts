/**
 * Request ids: UUIDv7 (RFC 9562), whose first 48 bits are the Unix time in milliseconds. The id
 * is the primary key of `inference_events` (and of `captures`), and a random key (UUIDv4) lands
 * each new row on a random leaf of that index: once the index outgrows the database's cache every
 * insert reads and dirties a page of its own. Time-ordered ids all land at its right end. At
 * 3,000,000 stored events that took a quarter to a third off PostgreSQL's CPU per written event
 * (`npm run bench:events`, docs/benchmarks.md), and the gap widens as the table grows. The ids
 * also sort by when the calls came, which is what an operator reading them expects.
 *
 * `uuid`'s `v7()` draws its randomness with `crypto.getRandomValues` on every call, ~3 µs on the
 * request path; it is given bytes from a pool refilled 256 ids at a time instead (~0.5 µs a call;
 * Node's own `randomUUID` pools its randomness the same way). Given its bytes, `v7()` keeps no
 * counter, so the ids of one millisecond are in random order among themselves: they still land
 * together at the index's end (the figures above were measured with this function).
 */
import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";

const pool = new Uint8Array(16 * 256);
let next = pool.length;

export function newRequestId(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const random = pool.subarray(next, next + 16);
  next += 16;
  return v7({ random });
}
