/**
 * Training through ONNX Runtime against PyTorch (fixtures: test/fixtures/training, written by
 * test/fixtures/make_training_fixtures.py with torch.nn.utils.weight_norm + torch.optim).
 * Each case takes the PLAIN exported model, converts it to weight-norm form (g = ‖W‖, v = W:
 * the state weight_norm starts from), and trains it with the case's loss, optimizer and number of
 * steps on PyTorch's batch. Compared with PyTorch: the loss of every step, every trained g, v and
 * bias (flattened: PyTorch keeps g as [out, 1, …]), and the trained model folded back to plain
 * weights, run on the batch, against PyTorch's trained model's output. Cases with mean_only_bn
 * convert with --mean-only-bn (centering by the batch mean, bias after, running mean updated)
 * and compare the running means too; the folded model's output is PyTorch's in eval mode.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { loadModelFile } from '../src/node';
import { readSampleData } from '../src/data/sample-data';
import type { NdArray } from '../src/data/array';
import { readFloats } from '../src/tensor/values';
import type { LossKind } from '../src/train/loss';
import type { OptimizerOptions } from '../src/train/optimizer';
import { Trainer, type StepSettings } from '../src/train/trainer';
import { convert } from '../transforms/weight-norm';
import { fold } from '../transforms/fold';
import { runtime, type Tolerance } from './helpers/ort';
import { compareValues } from '../src/tensor/compare';
import { readNpy } from './helpers/npy';
import { opTypes, run } from './support';

const FIXTURES = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'training');

/**
 * float32 on both sides, with different kernels (summation orders) for the same arithmetic:
 * losses, outputs and SGD's parameters (moved by lr·gradient) agree to a few float32 ulps
 * (observed ≤ 3.1e-6 on logits of magnitude ~2, ≤ 6e-8 on parameters), while a missing weight
 * decay term (lr·1e-3·p ≈ 6e-6 on v over two nesterov steps) would be caught.
 */
const FLOAT32: Tolerance = { rtol: 1e-5, atol: 1e-6 };

/**
 * Adam's parameters: its update lr·m̂/(√v̂ + ε) normalizes the gradient, so where a gradient is
 * as small as ε = 1e-8 the step depends on the gradient's last digits, and v's gradient there
 * comes out of a near-cancellation (the norm's projection) known to only ~0.5% in float32. In
 * the MLP an fc1 v element with a first gradient of 8.7e-8 ends 5.6e-6 from PyTorch's value; PyTorch's
 * own float32 run ends 5.1e-6 from its float64 run on that element.
 */
const ADAM_PARAMETERS: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/** The fixture's cases, as the script wrote them (PyTorch's option names). */
interface TorchCase {
  name: string;
  model: 'mlp' | 'cnn' | 'decoder';
  loss: LossKind;
  optimizer:
    | { kind: 'sgd'; lr: number; momentum: number; nesterov: boolean; weight_decay: number }
    | { kind: 'adam'; lr: number; betas: [number, number]; eps: number; weight_decay: number };
  steps: number;
  mean_only_bn?: boolean;
}

interface Manifest { torch: string; cases: TorchCase[] }

/** Keys of a case's .npz that are not parameters. */
const RESULT_KEYS = new Set(['target', 'losses', 'logits']);

function wnOptimizer(o: TorchCase['optimizer']): { optimizer: OptimizerOptions; settings: StepSettings } {
  if (o.kind === 'sgd') return { optimizer: { kind: 'sgd', momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weight_decay }, settings: { lr: o.lr } };
  return { optimizer: { kind: 'adam', beta2: o.betas[1], eps: o.eps, weightDecay: o.weight_decay }, settings: { lr: o.lr, beta1: o.betas[0] } };
}

function floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new runtime.Tensor('float32', data, dims);
}

/** The loss's target: one-hot rows for cross-entropy's integer labels, the array itself for mse and l1. */
function targetTensor(loss: LossKind, target: NdArray, classes: number): ort.Tensor {
  if (loss !== 'cross-entropy') return floatTensor(target.data as Float32Array, target.shape);
  const oneHot = new Float32Array(target.shape[0] * classes);
  Array.from(target.data, Number).forEach((label, row) => { oneHot[row * classes + label] = 1; });
  return floatTensor(oneHot, [target.shape[0], classes]);
}

function assertNear(what: string, actual: ArrayLike<number>, expected: NdArray, tolerance: Tolerance): void {
  assert.equal(actual.length, expected.data.length, `${what}: ${actual.length} values, PyTorch has ${expected.data.length}`);
  const c = compareValues(actual, expected.data, tolerance);
  assert.equal(c.bad, 0, `${what}: ${c.bad} of ${actual.length} values differ from PyTorch beyond rtol ${tolerance.rtol} / atol ${tolerance.atol}`
    + ` (max abs ${c.maxAbs.toExponential(2)}; worst at ${c.worst}: ${actual[c.worst]} vs ${Number(expected.data[c.worst])})`);
}

const manifest: Manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8'));

describe(`training against PyTorch ${manifest.torch} (weight_norm + torch.optim)`, function () {
  it('has every case', function () {
    assert.deepEqual(manifest.cases.map((c) => `${c.model}/${c.name}`), [
      'mlp/sgd', 'mlp/sgd_nesterov', 'mlp/adam', 'mlp/adam_wd',
      'cnn/sgd', 'cnn/sgd_nesterov', 'cnn/adam', 'cnn/adam_wd',
      'decoder/sgd', 'decoder/sgd_nesterov', 'decoder/adam', 'decoder/adam_wd',
      'mlp/mse_adam', 'mlp/l1_adam',
      'mlp/mean_only_sgd', 'mlp/mean_only_adam', 'cnn/mean_only_sgd', 'cnn/mean_only_adam',
      'decoder/mean_only_sgd', 'decoder/mean_only_adam',
    ]);
  });

  for (const c of manifest.cases) {
    describe(`${c.model}/${c.name}: ${c.loss}, ${c.optimizer.kind} ${JSON.stringify(c.optimizer)}, ${c.steps} step(s)`, function () {
      const folder = path.join(FIXTURES, c.model);
      let plainOps: string[];
      let expected: Map<string, NdArray>;
      let batch: Record<string, ort.Tensor>;
      let trainer: Trainer;
      const losses: number[] = [];

      before(async function () {
        const plain = loadModelFile(path.join(folder, 'model.onnx')).model;
        plainOps = opTypes(plain);
        expected = readSampleData(fs.readFileSync(path.join(folder, `${c.name}.npz`)), `${c.model}/${c.name}.npz`);
        const input = readNpy(path.join(folder, 'input.npy'));
        const data = input.data as Float32Array;
        const rowSize = data.length / input.shape[0];
        batch = { input: floatTensor(data, input.shape) };
        const twoRows = { input: floatTensor(data.slice(0, 2 * rowSize), [2, ...input.shape.slice(1)]) };
        // convert rewrites the model in place
        const { model } = convert(plain, { meanOnlyBn: c.mean_only_bn });
        const { optimizer, settings } = wnOptimizer(c.optimizer);
        trainer = await Trainer.create(model, [batch, twoRows], { runtime, loss: c.loss, optimizer });
        const logits = expected.get('logits')!;
        const target = targetTensor(c.loss, expected.get('target')!, logits.shape[1]);
        for (let i = 0; i < c.steps; i++) losses.push((await trainer.step(batch, target, settings)).loss);
      });

      after(async function () {
        await trainer?.release();
      });

      const parameterTolerance = c.optimizer.kind === 'adam' ? ADAM_PARAMETERS : FLOAT32;

      it('trains the parameters PyTorch trains', function () {
        const torchNames = [...expected.keys()].filter((k) => !RESULT_KEYS.has(k) && !k.endsWith('_running_mean')).sort();
        assert.deepEqual([...trainer.graph.parameters].sort(), torchNames);
      });

      it('has PyTorch\'s loss at every step', function () {
        assertNear('losses', losses, expected.get('losses')!, FLOAT32);
      });

      it('ends with PyTorch\'s g, v and biases', function () {
        const trained = trainer.trainedModel();
        for (const name of trainer.graph.parameters) {
          assertNear(name, readFloats(trained.graph.initializer(name)!), expected.get(name)!, parameterTolerance);
        }
      });

      if (c.mean_only_bn) {
        it('ends with PyTorch\'s running means', function () {
          const trained = trainer.trainedModel();
          const means = [...expected.keys()].filter((k) => k.endsWith('_running_mean'));
          assert.equal(means.length, trainer.graph.parameters.filter((p) => p.endsWith('_g')).length, 'one per layer');
          for (const name of means) assertNear(name, readFloats(trained.graph.initializer(name)!), expected.get(name)!, FLOAT32);
        });
      }

      it('folds to a plain model with the output of PyTorch\'s trained model', async function () {
        const { model: folded, report } = fold(trainer.trainedModel());
        assert.equal(report.folded.length, trainer.graph.parameters.filter((p) => p.endsWith('_g')).length, 'every layer folded');
        assert.deepEqual(opTypes(folded), plainOps, 'the plain model\'s operators again');
        const outputs = await run(folded, batch);
        // computed from the trained parameters, it agrees as far as they do (a logit near 0 after
        // Adam's steps: 1.4e-6 from PyTorch's, on one machine's kernels)
        assertNear('logits', outputs.logits.data as Float32Array, expected.get('logits')!, parameterTolerance);
      });
    });
  }
});
