/** Reading the fixtures' .npy files (through the library's own parser, src/data/npy.ts). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseNpy } from '../../src/data/npy';
import type { NdArray } from '../../src/data/array';

export type { NdArray };

export function readNpy(file: string): NdArray {
  return parseNpy(fs.readFileSync(file), file);
}

/** `<prefix>_0.npy`, `<prefix>_1.npy`, … in a folder, in index order. */
export function readNpySeries(folder: string, prefix: 'input' | 'output'): NdArray[] {
  const arrays: NdArray[] = [];
  for (let i = 0; fs.existsSync(path.join(folder, `${prefix}_${i}.npy`)); i++) arrays.push(readNpy(path.join(folder, `${prefix}_${i}.npy`)));
  return arrays;
}
