/**
 * onnxruntime-web's WebAssembly provider in Node (`webRuntime()`, `--ep wasm`) through the same core API as onnxruntime-node:
 * inference, data-dependent init, training steps and `wn-onnx train` agree with onnxruntime-node's CPU provider within
 * float32 tolerance.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { dump } from 'npyjs';
import { loadModel, saveModel, type Model } from '../src/ir/model';
import { runModel } from '../src/runtime/session';
import type { Runtime } from '../src/runtime/ort';
import { seededRandom } from '../src/tensor/random';
import { readFloats } from '../src/tensor/values';
import { dataDependentInit } from '../src/train/data-init';
import { Trainer } from '../src/train/trainer';
import { loadModelFile } from '../src/node/model-file';
import { nodeRuntime, webRuntime } from '../src/node/runtime';
import { convert } from '../transforms/weight-norm';
import { assertClose } from './support';
import { cli, root } from './helpers/cli';

const CNN = path.join(root, 'models', 'cnn.onnx');
const SAMPLES = 48;
const BATCH = 16;
const random = seededRandom(11);
const images = Float32Array.from({ length: SAMPLES * 784 }, random);
const labels = Array.from({ length: SAMPLES }, () => Math.floor(random() * 10));

/** Rows [start, start + rows) of the images as the CNN's input, a tensor of `runtime`'s own class. */
const batch = (runtime: Runtime, start = 0, rows = BATCH): Record<string, ort.Tensor> =>
  ({ input: new runtime.Tensor('float32', images.slice(start * 784, (start + rows) * 784), [rows, 1, 28, 28]) });

const converted = (): Model => convert(loadModel(fs.readFileSync(CNN))).model;

/** Every float initializer of `a` against `b`'s. */
function assertSameInitializers(a: Model, b: Model, rtol: number, atol: number): void {
  for (const t of a.graph.initializers) assertClose(readFloats(t), readFloats(b.graph.initializer(t.name!)!), rtol, atol, t.name);
}

describe('onnxruntime-web (wasm) in Node', () => {
  const [web, native] = [webRuntime(), nodeRuntime()];

  it('leaves onnxruntime-node native when onnxruntime-web is loaded first', () => {
    // one onnxruntime-common registry serves both packages, and the first loaded keeps the name 'cpu': loaded the other way
    // round, onnxruntime-node's 'cpu' sessions would run in WebAssembly (ONNX Runtime's session handler class tells which)
    const script = `const { webRuntime, nodeRuntime } = require(${JSON.stringify(path.join(root, 'dist', 'src', 'node', 'runtime.js'))});
      webRuntime();
      nodeRuntime().InferenceSession.create(${JSON.stringify(CNN)}, { executionProviders: ['cpu'] })
        .then((s) => console.log(s.handler.constructor.name));`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'OnnxruntimeSessionHandler');
  });

  it('runs the CNN as onnxruntime-node does', async () => {
    const model = loadModel(fs.readFileSync(CNN));
    const [a, b] = [await runModel(web, model, batch(web), { ep: 'wasm' }), await runModel(native, model, batch(native))];
    assertClose(a.logits.data as Float32Array, b.logits.data as Float32Array, 0, 1e-5, 'logits');
  });

  it('data-dependent init gives onnxruntime-node\'s g and b', async () => {
    const [a, b] = [converted(), converted()];
    const { report } = await dataDependentInit(a, batch(web), { runtime: web, ep: 'wasm' });
    await dataDependentInit(b, batch(native), { runtime: native });
    assert.equal(report.layers.length, 4);
    assertSameInitializers(a, b, 0, 1e-5);
  });

  it('trains 3 Adam steps of cross-entropy as onnxruntime-node does', async () => {
    const train = async (runtime: Runtime, ep: 'wasm' | 'cpu') => {
      const trainer = await Trainer.create(converted(), [batch(runtime)], { runtime, ep, seed: 3, optimizer: { kind: 'adam' } });
      const losses: number[] = [];
      for (let start = 0; start < SAMPLES; start += BATCH) {
        const target = trainer.targetTensor(labels, Array.from({ length: BATCH }, (_, r) => start + r));
        losses.push((await trainer.step(batch(runtime, start), target, { lr: 1e-3 })).loss);
      }
      return { losses, model: trainer.trainedModel() };
    };
    const [a, b] = [await train(web, 'wasm'), await train(native, 'cpu')];
    assertClose(a.losses, b.losses, 1e-4, 1e-5, 'losses');
    assertSameInitializers(a.model, b.model, 1e-4, 1e-5);
  });

  describe('wn-onnx train --ep wasm', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-web-'));
      fs.writeFileSync(path.join(dir, 'wn.onnx'), saveModel(converted()));
      fs.writeFileSync(path.join(dir, 'x.npy'), Buffer.from(dump(images, [SAMPLES, 1, 28, 28])));
      fs.writeFileSync(path.join(dir, 'y.npy'), Buffer.from(dump(BigInt64Array.from(labels, BigInt), [SAMPLES])));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('trains as --ep cpu does', () => {
      const train = (ep: string) => {
        const output = path.join(dir, `${ep}.onnx`);
        const args = ['train', path.join(dir, 'wn.onnx'), '--data', path.join(dir, 'x.npy'), '--labels', path.join(dir, 'y.npy')];
        const result = cli([...args, '--batch-size', String(BATCH), '--epochs', '2', '--no-shuffle', '--ep', ep, '--json', '-o', output]);
        assert.equal(result.code, 0, result.err);
        const losses = (JSON.parse(result.out) as { epochs: { trainLoss: number }[] }).epochs.map((e) => e.trainLoss);
        return { losses, model: loadModelFile(output).model };
      };
      const [a, b] = [train('wasm'), train('cpu')];
      assertClose(a.losses, b.losses, 1e-4, 1e-5, 'epoch losses');
      assertSameInitializers(a.model, b.model, 1e-4, 1e-5);
    });
  });
});
