/** Deterministic choices of the fuzzer: every draw follows from (run seed, case index, stream name). */
import { seededRandom } from '../../src/tensor/random';

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

/** A 32-bit hash of numbers and strings (FNV-1a with a final avalanche). */
function mix(parts: readonly (number | string)[]): number {
  let h = 0x811c9dc5;
  const add = (v: number) => {
    h = Math.imul(h ^ (v >>> 0), 0x01000193);
  };
  for (const part of parts) {
    if (typeof part === 'string') for (let i = 0; i < part.length; i++) add(part.charCodeAt(i));
    else {
      add(part % 2 ** 32);
      add(Math.floor(part / 2 ** 32));
    }
    add(0xff);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** The draws of one case: `stream` keeps planning and preparing independent of each other. */
export function caseRandom(seed: number, index: number, stream: string): Random {
  const next = seededRandom(mix([seed, index, stream]));
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(items: readonly T[]) => {
      if (items.length === 0) throw new Error('fuzz: pick from an empty list');
      return items[int(items.length)];
    },
    chance: (p: number) => next() < p,
  };
}
