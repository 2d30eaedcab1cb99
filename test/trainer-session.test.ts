/** The trainer's session options: ONNX Runtime's CPU arena kept for steps estimated small. */
import * as assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-common';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { Runtime } from '../src/runtime/ort';
import { Trainer } from '../src/train/trainer';
import { seededNormal } from '../src/tensor/random';
import { randomTensor, runtime } from './support';

/** onnxruntime-node, recording the options of each session it creates. */
function observed(): { runtime: Runtime; options: ort.InferenceSession.SessionOptions[] } {
  const options: ort.InferenceSession.SessionOptions[] = [];
  const create = (model: Uint8Array, given: ort.InferenceSession.SessionOptions) => {
    options.push(given);
    return runtime.InferenceSession.create(model, given);
  };
  return { runtime: { Tensor: runtime.Tensor, InferenceSession: { create } as unknown as typeof ort.InferenceSession }, options };
}

const model = () => makeModel({
  opset: 17,
  inputs: [tensorInfo('x', DataType.FLOAT, ['N', 64])],
  outputs: [tensorInfo('logits', DataType.FLOAT, ['N', 3])],
  nodes: [makeNode('Gemm', ['x', 'w', 'b'], ['logits'], { transB: 1 })],
  initializers: [randomTensor('w', [3, 64], 1), randomTensor('b', [3], 2)],
});

async function stepOptions(memory?: { bytes: number; batchRows: number }) {
  const { runtime: observing, options } = observed();
  const normal = seededNormal(4);
  const probe = { x: new runtime.Tensor('float32', Float32Array.from({ length: 2 * 64 }, normal), [2, 64]) };
  const trainer = await Trainer.create(model(), [probe], { runtime: observing, memory });
  const step = options.at(-1)!;
  await trainer.release();
  return step;
}

describe('the trainer\'s step session', () => {
  it('keeps ONNX Runtime\'s CPU arena for a step estimated under 256 MB, leaves the runtime\'s choice otherwise', async () => {
    assert.equal((await stepOptions({ bytes: 2 ** 40, batchRows: 100 })).enableCpuMemArena, true);
    // 10 M rows of 64 floats: the activations alone are estimated at gigabytes
    assert.equal((await stepOptions({ bytes: 2 ** 40, batchRows: 10_000_000 })).enableCpuMemArena, undefined);
    assert.equal((await stepOptions()).enableCpuMemArena, undefined);
  });
});
