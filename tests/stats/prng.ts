/**
 * Seeded randomness for the simulation tests, so every run draws the same numbers and a
 * measured rate is reproducible. mulberry32 (a 32-bit generator, plenty for Monte Carlo at this
 * size) with Box–Muller for normals.
 */
export interface Rng {
  /** Uniform on [0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
}

export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  let spare: number | null = null;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    // 1 − u keeps the logarithm's argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
  return { uniform, normal };
}

export function normals(rng: Rng, n: number, mean = 0, sd = 1): number[] {
  return Array.from({ length: n }, () => mean + sd * rng.normal());
}
