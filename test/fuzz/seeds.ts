/**
 * The fuzzer's starting points, made once per run in a folder of their own: the bundled models,
 * weight-normalized copies made by the CLI's own `convert`, the external-data fixture, and
 * tiny sample data (8 rows of each model's input, 8 integer labels).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dump } from 'npyjs';
import { decodeModel } from '../../src/onnx/codec';
import { externalReference, forEachTensor, isExternal } from '../../src/onnx/external';
import { seededRandom } from '../../src/tensor/random';
import { root } from '../helpers/cli';

export const BIN = path.join(root, 'bin', 'wn-onnx.js');

export interface SeedModel {
  name: string;
  /** The model file in the seeds folder. */
  file: string;
  /** External data files the model reads, by the location it names them (beside the model). */
  externalFiles: string[];
  weightNormalized: boolean;
  /** Sample inputs of the model's input shape (.npy in the seeds folder). */
  data: string;
}

export const LABELS_FILE = 'labels.npy';
const ROWS = 8;

/** Input shapes of the bundled models (models/make-models.ts), with the symbolic axes set. */
const SAMPLE_SHAPES: Record<string, number[]> = { cnn: [ROWS, 1, 28, 28], mlp: [ROWS, 784], lstm: [ROWS, ROWS, 32] };

const PLAIN = ['cnn', 'mlp', 'lstm'] as const;

/** Seeds made by `convert` from another seed (name, from). */
const CONVERTED: readonly (readonly [string, string])[] = [['cnn-wn', 'cnn'], ['mlp-wn', 'mlp'], ['cnn-ext-wn', 'cnn-ext']];

/** Runs the real CLI (a process of its own) and fails the setup if it fails. */
function runCli(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`fuzz setup: wn-onnx ${args.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

function externalLocations(file: string): string[] {
  const locations = new Set<string>();
  forEachTensor(decodeModel(fs.readFileSync(file)), (t) => {
    if (isExternal(t)) locations.add(externalReference(t).location);
  });
  return [...locations];
}

function describe(folder: string, name: string, family: string, weightNormalized: boolean): SeedModel {
  const file = `${name}.onnx`;
  return { name, file, externalFiles: externalLocations(path.join(folder, file)), weightNormalized, data: `x-${family}.npy` };
}

/** Makes every seed in `folder` (created if missing); returns them by name. */
export async function prepareSeeds(folder: string): Promise<SeedModel[]> {
  fs.mkdirSync(folder, { recursive: true });
  const random = seededRandom(1);
  for (const [family, shape] of Object.entries(SAMPLE_SHAPES)) {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: count }, () => random() * 2 - 1);
    fs.writeFileSync(path.join(folder, `x-${family}.npy`), Buffer.from(dump(values, shape)));
  }
  const labels = BigInt64Array.from({ length: ROWS }, (_, i) => BigInt(i % 5));
  fs.writeFileSync(path.join(folder, LABELS_FILE), Buffer.from(dump(labels, [ROWS])));
  for (const name of PLAIN) fs.copyFileSync(path.join(root, 'models', `${name}.onnx`), path.join(folder, `${name}.onnx`));
  const fixture = path.join(root, 'test', 'fixtures', 'external');
  fs.copyFileSync(path.join(fixture, 'cnn.onnx'), path.join(folder, 'cnn-ext.onnx'));
  fs.copyFileSync(path.join(fixture, 'cnn.onnx.data'), path.join(folder, 'cnn.onnx.data'));
  await Promise.all(CONVERTED.map(([name, from]) => runCli(['convert', `${from}.onnx`, '-o', `${name}.onnx`], folder)));
  return [
    ...PLAIN.map((name) => describe(folder, name, name, false)),
    describe(folder, 'cnn-ext', 'cnn', false),
    ...CONVERTED.map(([name, from]) => describe(folder, name, from.split('-')[0], true)),
  ];
}
