/**
 * Arm assignment: a deterministic, stateless hash of (experiment salt, unit key), so every replica,
 * and anyone offline, computes the same arm for the same unit without shared state.
 *
 * The hash is GrowthBook's "hash version 2" (MIT, `packages/sdk-js/src/util.ts`), chosen because it
 * is documented, has published test vectors and SDKs in many languages:
 *
 *   fnv1a32(s)        = FNV-1a, 32 bit: h = 2166136261; for each UTF-16 code unit c of s:
 *                       h = ((h XOR c) * 16777619) mod 2^32
 *   bucket(salt, key) = (fnv1a32(decimal(fnv1a32(salt + key))) mod 10000) / 10000
 *
 * `salt + key` is plain concatenation with no separator, and `decimal(n)` is the base-10 string of
 * the unsigned 32-bit integer (e.g. "3826002220"). The bucket lies in [0, 1) in steps of 0.0001.
 * Characters are hashed as UTF-16 code units (JavaScript `charCodeAt`), as the GrowthBook JS SDK
 * does; for ASCII keys this equals FNV-1a over the bytes, so any FNV-1a implementation reproduces it.
 *
 * The arm is the first one whose cumulative normalized weight exceeds the bucket:
 *   arm = min { i : bucket < (w_0 + ... + w_i) / (w_0 + ... + w_{n-1}) }
 * Arms keep their order (the experiment's arm order), so ramping weights only moves the units whose
 * bucket falls in the range that changed hands.
 *
 * Offline reproduction (Python, for keys without characters outside the BMP):
 *   def fnv(s):
 *       h = 2166136261
 *       for ch in s:
 *           h = ((h ^ ord(ch)) * 16777619) % 2**32
 *       return h
 *   bucket = fnv(str(fnv(salt + key))) % 10000 / 10000
 */

const FNV_OFFSET = 2166136261;

/** FNV-1a 32-bit over UTF-16 code units; returns an unsigned 32-bit integer. */
export function fnv1a32(input: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < input.length; i++) {
    h ^= input.charCodeAt(i);
    // Math.imul keeps the multiplication by the FNV prime exact in 32 bits.
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** GrowthBook hash v2: a bucket in [0, 1) with four decimals. */
export function bucket(salt: string, unitKey: string): number {
  return (fnv1a32(String(fnv1a32(salt + unitKey))) % 10000) / 10000;
}

/**
 * Index of the arm whose cumulative normalized weight range contains `b`. Weights need not sum to
 * 1; zero-weight arms are never chosen. Throws on an empty list, a negative or non-finite weight, or
 * all-zero weights: those are configuration bugs the caller must reject earlier.
 */
export function chooseArm(weights: readonly number[], b: number): number {
  let total = 0;
  for (const w of weights) {
    if (!Number.isFinite(w) || w < 0) throw new RangeError(`invalid arm weight ${w}`);
    total += w;
  }
  if (total <= 0) throw new RangeError("arm weights must not all be zero");
  let cumulative = 0;
  let lastPositive = -1;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i] as number;
    if (w === 0) continue;
    lastPositive = i;
    cumulative += w;
    if (b < cumulative / total) return i;
  }
  // Rounding can leave the last cumulative share a hair below 1; the bucket then belongs to the
  // last arm that can receive traffic.
  return lastPositive;
}

export type Assignment = { bucket: number; arm: number };

/** The arm of `unitKey` in the experiment salted with `salt`. */
export function assign(salt: string, unitKey: string, weights: readonly number[]): Assignment {
  const b = bucket(salt, unitKey);
  return { bucket: b, arm: chooseArm(weights, b) };
}
