/**
 * Builds the benchmark model with this project's own API: a chain of `layers` MatMul nodes,
 * each with a [size, size] float32 weight (24 x 2048 x 2048 = 384 MiB of weights by default),
 * input X [batch, size], output Y [batch, size].
 *
 * Weights are seeded uniform values with variance 1/size, so activations keep their scale down
 * the chain and inference outputs stay finite (they are compared between models).
 *
 *   node dist/bench/make_big_model.js OUT.onnx [--layers 24] [--size 2048] [--batch 8] [--seed 1] [--external]
 */
import { DataType, Model, saveModelFile, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../src/node';
import { createTensorProto } from '../src/onnx/codec';

export interface BigModelOptions {
  layers?: number;
  size?: number;
  batch?: number;
  seed?: number;
}

/** xorshift32: fast, seeded, good enough for weights. */
function uniform(count: number, bound: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = (seed * 2654435761) >>> 0 || 1;
  const scale = (2 * bound) / 2 ** 32;
  for (let i = 0; i < count; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s * scale - bound;
  }
  return out;
}

function valueInfo(name: string, dims: number[]): ValueInfoProto {
  return { name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_value: d })) } } } };
}

export function bigModel(options: BigModelOptions = {}): Model {
  const { layers = 24, size = 2048, batch = 8, seed = 1 } = options;
  const bound = Math.sqrt(3 / size); // uniform(-b, b) has variance b²/3 = 1/size
  const initializer: TensorProto[] = [];
  const node: NodeProto[] = [];
  let x = 'X';
  for (let i = 0; i < layers; i++) {
    const w = `layer${i}.weight`;
    const values = uniform(size * size, bound, seed + i);
    initializer.push(createTensorProto({
      name: w, data_type: DataType.FLOAT, dims: [size, size],
      raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    }));
    const y = i === layers - 1 ? 'Y' : `h${i}`;
    node.push({ name: `layer${i}/MatMul`, op_type: 'MatMul', input: [x, w], output: [y] });
    x = y;
  }
  const proto: ModelProto = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    producer_name: 'wn-onnx bench',
    graph: { name: 'matmul_chain', node, initializer, input: [valueInfo('X', [batch, size])], output: [valueInfo('Y', [batch, size])] },
  };
  return new Model(proto);
}

/** Writes the model to `file`: weights inline, or every one in `file.data` with `external`. */
export function writeBigModel(file: string, options: BigModelOptions = {}, external = false): void {
  saveModelFile(bigModel(options), file, external ? { externalThreshold: 1 } : {});
}

function flag(args: string[], name: string): number | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const out = args[0];
  if (!out || out.startsWith('--')) {
    process.stderr.write('usage: node dist/bench/make_big_model.js OUT.onnx [--layers 24] [--size 2048] [--batch 8] [--seed 1] [--external]\n');
    process.exit(2);
  }
  const options = { layers: flag(args, '--layers'), size: flag(args, '--size'), batch: flag(args, '--batch'), seed: flag(args, '--seed') };
  writeBigModel(out, options, args.includes('--external'));
}
