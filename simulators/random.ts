/**
 * A small seeded PRNG (mulberry32) with the draws the simulators need. Same seed → same sequence, on every
 * platform; never Math.random in a simulator.
 */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Integer uniform in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Symmetric triangular in [min, max], most likely at the middle: day-to-day jitter that stays bounded. */
  triangular(min: number, max: number): number {
    return min + ((max - min) * (this.next() + this.next())) / 2;
  }

  /** A Poisson-distributed count with mean `mean` (Knuth's method; the means here are small). */
  poisson(mean: number): number {
    if (!(mean > 0)) return 0;
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }

  /** An integer with mean `mean`: floor(mean) plus one with probability frac(mean). */
  count(mean: number): number {
    const whole = Math.floor(mean);
    return whole + (this.chance(mean - whole) ? 1 : 0);
  }
}

/** Mixes a seed with further integers (day number, meter index, …) into an independent 32-bit seed. */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of [seed, ...parts]) {
    h = Math.imul(h ^ (part | 0), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ Math.floor(part / 4_294_967_296), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}
