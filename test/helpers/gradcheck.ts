/**
 * Checks gradient rules against central finite differences, both through ONNX Runtime: a
 * model of the nodes under test, a loss L = Σ y·r (r fixed random, so ∂L/∂y = r is the seed),
 * the backward pass compiled by wn-onnx, and L evaluated at x ± h per element.
 */
import * as assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-common';
import { DataType } from '../../src/onnx/enums';
import type { NodeProto, TensorProto } from '../../src/onnx/proto';
import { makeModel, tensorInfo } from '../../src/ir/make';
import { buildBackward } from '../../src/autodiff/backward';
import type { Lowering } from '../../src/autodiff/rule';
import { probeValueTypes } from '../../src/runtime/value-probe';
import { seededRandom } from '../../src/tensor/random';
import { toTensor } from '../../src/runtime/tensors';
import { elementCount, floatTensor } from '../../src/tensor/values';
import { runModel, withSession } from '../../src/runtime/session';
import { runtime } from '../support';

export interface GradInput {
  name: string;
  dims: number[];
  /** Values; default seeded uniform ±[0.1, 1) (away from the kinks of Relu, Abs …). */
  values?: number[];
}

export interface GradCase {
  nodes: NodeProto[];
  /** Graph inputs, all differentiated unless `wrt` says otherwise. */
  inputs: GradInput[];
  /** Fixed initializers (axes, shapes, indices, exponents). */
  constants?: TensorProto[];
  wrt?: string[];
  opset?: number;
  /** float64 where ONNX Runtime's CPU kernels have it (default), else float32. */
  type?: DataType.FLOAT | DataType.DOUBLE;
  output?: string;
  seed?: number;
  /** Finite-difference step; default 1e-6 (float64) / 1e-2 (float32). */
  step?: number;
  /** Allowed |analytic − numeric| relative to the largest numeric gradient; default 1e-6 / 1e-2. */
  tolerance?: number;
  /** The gradients' lowering (default: ONNX Runtime's CPU kernels, no memory limit). */
  lowering?: Lowering;
}

/** At most this many elements per input are perturbed (picked at random beyond). */
const MAX_PROBES = 24;

/** What gradCheck computed: each input's analytic gradient, and the backward pass's nodes. */
export interface GradResult { grads: Map<string, ArrayLike<number>>; nodes: NodeProto[] }

export async function gradCheck(c: GradCase): Promise<GradResult> {
  const type = c.type ?? DataType.DOUBLE;
  const ortType = type === DataType.DOUBLE ? 'float64' : 'float32';
  const random = seededRandom(c.seed ?? 3);
  const output = c.output ?? c.nodes[c.nodes.length - 1].output![0];
  const model = makeModel({
    opset: c.opset ?? 17,
    inputs: c.inputs.map((i) => tensorInfo(i.name, type, i.dims)),
    outputs: [{ name: output, type: { tensor_type: { elem_type: type } } }],
    nodes: c.nodes,
    initializers: c.constants ?? [],
  });
  const values = new Map(c.inputs.map((i) => [i.name, Float64Array.from(i.values ?? Array.from({ length: elementCount(i.dims) }, () => awayFromZero(random)))]));
  const feedsWith = (name?: string, at?: number, delta?: number): Record<string, ort.Tensor> => Object.fromEntries(c.inputs.map((i) => {
    const v = Float64Array.from(values.get(i.name)!);
    if (i.name === name) v[at!] += delta!;
    return [i.name, toTensor(runtime, ortType, v, i.dims)];
  }));

  const types = await probeValueTypes(runtime, model, [feedsWith()]);
  const yDims = types.get(output)!.dims as number[];
  const r = Float64Array.from({ length: elementCount(yDims) }, () => random() * 2 - 1);
  const wrt = c.wrt ?? c.inputs.map((i) => i.name);
  const backward = buildBackward(model, { seeds: new Map([[output, 'dL_dy']]), wrt, types, lowering: c.lowering });
  assert.deepEqual(backward.unreached, [], 'every input reaches the output');
  const gradModel = makeModel({
    opset: c.opset ?? 17,
    inputs: model.graph.inputs,
    outputs: wrt.map((name) => ({ name: backward.grads.get(name)!, type: { tensor_type: { elem_type: type } } })),
    nodes: [...model.graph.nodes, ...backward.nodes],
    initializers: [...(c.constants ?? []), ...backward.initializers, floatTensor('dL_dy', type, yDims, r)],
  });
  const analytic = await runModel(runtime, gradModel, feedsWith());

  const h = c.step ?? (type === DataType.DOUBLE ? 1e-6 : 1e-2);
  const tolerance = c.tolerance ?? (type === DataType.DOUBLE ? 1e-6 : 1e-2);
  await withSession(runtime, model, {}, async (forward) => {
    const loss = async (name?: string, at?: number, delta?: number) => {
      const y = (await forward.run(feedsWith(name, at, delta)))[output].data as Float64Array | Float32Array;
      let sum = 0;
      for (let i = 0; i < y.length; i++) sum += y[i] * r[i];
      return sum;
    };
    for (const name of wrt) {
      const grad = analytic[backward.grads.get(name)!];
      const dims = c.inputs.find((i) => i.name === name)!.dims;
      assert.deepEqual([...grad.dims], dims, `gradient of ${name}: shape`);
      const n = elementCount(dims);
      const probes = n <= MAX_PROBES ? [...Array(n).keys()] : Array.from({ length: MAX_PROBES }, () => Math.floor(random() * n));
      const numeric: number[] = [];
      for (const at of probes) numeric.push(((await loss(name, at, h)) - (await loss(name, at, -h))) / (2 * h));
      const scale = Math.max(1e-3, ...numeric.map(Math.abs));
      probes.forEach((at, k) => {
        const a = Number(grad.data[at]);
        assert.ok(Math.abs(a - numeric[k]) <= tolerance * scale,
          `∂L/∂${name}[${at}]: analytic ${a}, finite differences ${numeric[k]} (largest |gradient| ${scale})`);
      });
    }
  });
  const grads = new Map(wrt.map((name) => [name, analytic[backward.grads.get(name)!].data as ArrayLike<number>]));
  return { grads, nodes: backward.nodes };
}

function awayFromZero(random: () => number): number {
  const magnitude = 0.1 + 0.9 * random();
  return random() < 0.5 ? -magnitude : magnitude;
}
