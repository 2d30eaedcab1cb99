/**
 * ONNX Runtime's NCHWc kernels (domain com.microsoft.nchwc): its CPU provider's fastest
 * convolutions, on channels laid out in blocks of 8 (AVX2) or 16 (AVX-512). Its optimizer uses
 * them only for Convs whose weights are constants; a training step computes its weights, so the
 * trainer writes them into the step graph itself (src/train/nchwc.ts) and needs the block size
 * of the machine it runs on: asked here of ONNX Runtime, by reordering a 4-channel tensor.
 */
import Long from 'long';
import { DataType } from '../onnx/enums';
import { makeModel, tensorInfo } from '../ir/make';
import type { Model } from '../ir/model';
import { withSession } from './session';
import type { ExecutionProvider, Runtime } from './ort';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** `n` channels rounded up to whole blocks: how many an NCHWc tensor or filter holds. */
export function blockedCount(n: number, block: number): number {
  return Math.ceil(n / block) * block;
}

const blockSizes = new WeakMap<Runtime, Promise<number>>();

/**
 * The NCHWc block size of `runtime` on this machine, or 0 where it has no such kernels (another
 * provider, onnxruntime-web, a CPU without them).
 */
export function nchwcBlockSize(runtime: Runtime, ep: ExecutionProvider = 'cpu'): Promise<number> {
  if (ep !== 'cpu') return Promise.resolve(0);
  let size = blockSizes.get(runtime);
  if (!size) {
    size = askBlockSize(runtime);
    blockSizes.set(runtime, size);
  }
  return size;
}

async function askBlockSize(runtime: Runtime): Promise<number> {
  try {
    return await withSession(runtime, reorderModel(), {}, async (session) => {
      const x = new runtime.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]);
      const { y } = await session.run({ x });
      // channels come back padded to one block
      return Number(y.dims[1]);
    });
  } catch {
    return 0;
  }
}

function reorderModel(): Model {
  const model = makeModel({
    opset: 17,
    inputs: [tensorInfo('x', DataType.FLOAT, [1, 4, 1, 1])],
    outputs: [tensorInfo('y', DataType.FLOAT, [1, 'blocked', 1, 1])],
    nodes: [{ name: 'reorder', op_type: 'ReorderInput', domain: NCHWC_DOMAIN, input: ['x'], output: ['y'] }],
    initializers: [],
  });
  model.proto.opset_import!.push({ domain: NCHWC_DOMAIN, version: Long.fromNumber(1) });
  return model;
}
