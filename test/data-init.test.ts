/**
 * Data-dependent init through ONNX Runtime: after init, every weight-normalized layer's
 * pre-activation on the init batch has per-feature mean 0 and std s (measured independently:
 * the pre-activations are made graph outputs of the initialized model and their statistics
 * computed here in float64); the one-pass init graph gives what the layer-by-layer procedure
 * (one ORT run per layer) gives; resampling is seeded.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { DataType } from '../src/onnx/enums';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { Model } from '../src/ir/model';
import { convert } from '../transforms/weight-norm';
import { addLayerBiases, type BiasedLayer } from '../src/wn/layer-bias';
import { dataDependentInit, type DataInitOptions } from '../src/train/data-init';
import { inputSpecs } from '../src/ir/inputs';
import { seededRandom } from '../src/tensor/random';
import { toTensor } from '../src/runtime/tensors';
import { loadModelFile } from '../src/node/model-file';
import { readFloats, tensorDims } from '../src/tensor/values';
import { weightNormGroups } from '../src/wn/spec';
import { copyModel, randomTensor, run, runtime, assertSameOutputs } from './support';
import { saveModel } from '../src/index';
import { elementCount } from '../src/tensor/values';

const F = DataType.FLOAT;
const FIXTURES = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'pytorch');

/** Seeded uniform [-1, 1) data for every input, with `rows` in the first axis. */
function batchFor(model: Model, rows: number, shapes: Record<string, number[]> = {}, seed = 7): Record<string, ort.Tensor> {
  const random = seededRandom(seed);
  return Object.fromEntries(inputSpecs(model).map((spec) => {
    const dims = shapes[spec.name] ?? [rows, ...spec.dims.slice(1).map((d) => d ?? 3)];
    const values = Float64Array.from({ length: elementCount(dims) }, () => random() * 2 - 1);
    return [spec.name, toTensor(runtime, spec.type === DataType.FLOAT16 ? 'float16' : 'float32', values, dims)];
  }));
}

function featureOf(layer: BiasedLayer, dims: readonly number[], i: number): number {
  if (layer.kind === 'conv') return Math.floor(i / elementCount(dims.slice(2))) % dims[1];
  if (layer.dims.length === 1) return 0;
  const n = dims[dims.length - 1];
  const m = dims[dims.length - 2];
  const batch = elementCount(layer.dims.slice(0, -2));
  return (Math.floor(i / (n * m)) % batch) * n + (i % n);
}

/** Per-feature mean and population std of every WN layer's pre-activation, measured in float64. */
async function preActivationStats(model: Model, batch: Record<string, ort.Tensor>) {
  const probe = copyModel(model);
  const { layers, report } = addLayerBiases(probe);
  assert.deepEqual(report.added, [], 'an initialized model already has every bias');
  probe.graph.proto.output = layers.map((l) => ({ name: l.preActivation, type: { tensor_type: { elem_type: l.type } } }));
  const outputs = await run(probe, batch);
  return layers.map((layer) => {
    const t = outputs[layer.preActivation];
    const values = t.type === 'float16' ? Float32Array.from(t.data as Uint16Array, (h) => halfToNumber(h)) : (t.data as Float32Array);
    const sums = new Float64Array(layer.features);
    const squares = new Float64Array(layer.features);
    const counts = new Float64Array(layer.features);
    for (let i = 0; i < values.length; i++) {
      const f = featureOf(layer, t.dims, i);
      sums[f] += values[i];
      counts[f]++;
    }
    const mean = sums.map((s, f) => s / counts[f]);
    for (let i = 0; i < values.length; i++) {
      const f = featureOf(layer, t.dims, i);
      squares[f] += (values[i] - mean[f]) ** 2;
    }
    return { layer, mean, std: squares.map((s, f) => Math.sqrt(s / counts[f])) };
  });
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

async function assertInitialized(model: Model, batch: Record<string, ort.Tensor>, scale = 1, tolerance = { mean: 1e-3, std: 1e-2 }): Promise<number> {
  const measured = await preActivationStats(model, batch);
  assert.ok(measured.length > 0, 'the model has layers to check');
  for (const { layer, mean, std } of measured) {
    const label = layer.node.name || layer.spec.weight;
    mean.forEach((m, f) => assert.ok(Math.abs(m) < tolerance.mean * Math.max(1, scale), `${label} feature ${f}: mean ${m}`));
    std.forEach((s, f) => assert.ok(Math.abs(s - scale) < tolerance.std * scale, `${label} feature ${f}: std ${s}, expected ${scale}`));
  }
  return measured.length;
}

async function initialized(model: Model, batch: Record<string, ort.Tensor>, options: Partial<DataInitOptions> = {}) {
  return dataDependentInit(model, batch, { runtime, ...options });
}

/**
 * A PyTorch fixture, converted. They were exported with batch 2: where the graph allows another
 * batch size (no Reshape to a constant shape) the batch axis is made symbolic.
 */
function fixture(name: string, dynamicBatch = true): Model {
  const model = loadModelFile(path.join(FIXTURES, name, 'model.onnx')).model;
  for (const input of dynamicBatch ? model.graph.inputs : []) {
    const dims = input.type?.tensor_type?.shape?.dim;
    if (dims?.length) dims[0] = { dim_param: 'batch' };
  }
  convert(model);
  return model;
}

describe('data-dependent init', () => {
  describe('every WN pre-activation has mean 0 and std 1 on the init batch', () => {
    // the attention block reshapes to its export batch: 2 sequences of 5 tokens = 10 rows per feature
    const cases: [string, number][] = [['cnn', 32], ['mlp', 64], ['conv_transpose', 16], ['attention', 2], ['residual', 16], ['conv1d', 16]];
    for (const [name, rows] of cases) {
      it(`${name} (PyTorch export)`, async () => {
        const model = fixture(name, name !== 'attention');
        const batch = batchFor(model, rows);
        const { report } = await initialized(model, batch);
        assert.equal(report.runs, 1);
        const checked = await assertInitialized(model, batch);
        assert.equal(checked, report.layers.length);
      });
    }

    it('the ConvTranspose network: the grouped layer and the one without bias (which gets one)', async () => {
      const model = fixture('conv_transpose');
      const { report } = await initialized(model, batchFor(model, 8));
      assert.deepEqual(report.biases.added.map((a) => a.node), ['/up2/ConvTranspose']);
      assert.ok(model.graph.nodes.find((n) => n.name === '/up2/ConvTranspose')!.input![2], 'bias input added');
    });

    it('recurrent layers keep g = ‖v‖; the MatMul head after them is initialized', async () => {
      const model = fixture('lstm', false);
      const before = copyModel(model);
      const batch = batchFor(model, 2);
      const { report } = await initialized(model, batch);
      assert.equal(report.recurrent.length, 4);
      for (const { spec } of weightNormGroups(model.graph.nodes).values()) {
        if (!report.recurrent.some((r) => r.weight === spec.weight)) continue;
        assert.deepEqual(readFloats(model.graph.initializer(spec.g)!), readFloats(before.graph.initializer(spec.g)!));
      }
      assert.equal(await assertInitialized(model, batch), 1);
    });
  });

  it('equals the layer-by-layer procedure (one ORT run per layer) to 1e-5', async () => {
    for (const name of ['cnn', 'attention', 'conv_transpose']) {
      const onePass = fixture(name, name !== 'attention');
      const perLayer = copyModel(onePass);
      const batch = batchFor(onePass, name === 'attention' ? 2 : 16);
      await initialized(onePass, batch);
      const { report } = await initialized(perLayer, batch, { strategy: 'per-layer' });
      assert.equal(report.runs, report.layers.length);
      assert.ok(report.runs > 1);
      for (const t of onePass.graph.initializers) {
        if (t.data_type !== F) continue;
        const a = readFloats(t);
        const b = readFloats(perLayer.graph.initializer(t.name ?? '')!);
        a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])), `${name} ${t.name}[${i}]: ${x} vs ${b[i]}`));
      }
    }
  });

  it('--init-scale 0.5 gives std 0.5', async () => {
    const model = fixture('cnn');
    const batch = batchFor(model, 16);
    await initialized(model, batch, { scale: 0.5 });
    await assertInitialized(model, batch, 0.5);
  });

  it('--resample-v: v ~ N(0, 0.05²), seeded; init still normalizes', async () => {
    const make = async (seed: number) => {
      const model = fixture('cnn');
      await initialized(model, batchFor(model, 16), { resample: { std: 0.05, seed } });
      return model;
    };
    const [a, b, c] = [await make(3), await make(3), await make(4)];
    const vs = [...weightNormGroups(a.graph.nodes).values()].map(({ spec }) => spec.v);
    const all = vs.flatMap((v) => Array.from(readFloats(a.graph.initializer(v)!)));
    const mean = all.reduce((s, x) => s + x, 0) / all.length;
    const std = Math.sqrt(all.reduce((s, x) => s + (x - mean) ** 2, 0) / all.length);
    assert.ok(all.length > 1000 && Math.abs(std - 0.05) < 0.003 && Math.abs(mean) < 0.003, `std ${std}, mean ${mean} over ${all.length}`);
    for (const v of vs) {
      assert.deepEqual(readFloats(a.graph.initializer(v)!), readFloats(b.graph.initializer(v)!), 'same seed, same v');
      assert.notDeepEqual(readFloats(a.graph.initializer(v)!), readFloats(c.graph.initializer(v)!), 'other seed, other v');
    }
    await assertInitialized(a, batchFor(a, 16));
  });

  describe('layers built in code', () => {
    const w = (name: string, dims: number[], seed: number, type = F) => randomTensor(name, dims, seed, type);

    function model(nodes: NodeProto[], weights: TensorProto[], input: [string, number[]], output: string, opset = 13, irVersion?: number, type = F): Model {
      return makeModel({
        opset, irVersion, nodes, initializers: weights,
        inputs: [tensorInfo(input[0], type, ['batch', ...input[1]])], outputs: [tensorInfo(output, type, [])],
      });
    }

    it('Gemm with alpha, beta, transB and a C shared by two layers (split); a batched MatMul weight', async () => {
      const m = model([
        makeNode('Gemm', ['x', 'W1', 'C'], ['h1'], { transB: 1, alpha: { float: 2 }, beta: { float: 0.5 } }),
        makeNode('Relu', ['h1'], ['a1']),
        makeNode('Gemm', ['a1', 'W2', 'C'], ['h2'], { beta: { float: 3 } }),
        makeNode('Reshape', ['h2', 'heads'], ['r']),
        makeNode('MatMul', ['r', 'W3'], ['y']),
      ], [w('W1', [6, 8], 1), w('C', [6], 2), w('W2', [6, 6], 3), w('W3', [2, 3, 4], 4),
        { ...randomTensor('heads', [4], 0), data_type: DataType.INT64, raw_data: new Uint8Array(BigInt64Array.of(-1n, 2n, 1n, 3n).buffer) }],
      ['x', [8]], 'y');
      const original = copyModel(m);
      convert(m);
      const zeroBiasModel = copyModel(m);
      const { report } = await initialized(m, batchFor(m, 32));
      assert.equal(report.layers.length, 3);
      assert.equal(report.biases.split.length, 1, 'C was shared');
      assert.equal(report.biases.added.length, 1, 'the MatMul got an Add');
      await assertInitialized(m, batchFor(m, 32));
      // adding biases alone changes nothing
      addLayerBiases(zeroBiasModel);
      await assertSameOutputs(original, zeroBiasModel, batchFor(original, 5));
    });

    for (const opset of [7, 9]) {
      it(`a batched MatMul weight at opset ${opset} (ReduceMean over a negative axis)`, async () => {
        const m = model([makeNode('MatMul', ['x', 'W'], ['y'])], [w('W', [2, 3, 4], 13)], ['x', [2, 5, 3]], 'y', opset, 3);
        convert(m);
        const batch = batchFor(m, 6);
        await initialized(m, batch);
        assert.equal(await assertInitialized(m, batch), 1);
      });
    }

    it('a bias reached through Identity is followed and set in its initializer', async () => {
      const m = model([
        makeNode('Identity', ['B'], ['B_used']),
        makeNode('Conv', ['x', 'K', 'B_used'], ['y']),
      ], [w('K', [3, 2, 3, 3], 11), w('B', [3], 12)], ['x', [2, 5, 5]], 'y');
      convert(m);
      const batch = batchFor(m, 8);
      const { report } = await initialized(m, batch);
      assert.deepEqual([report.biases.added, report.biases.split], [[], []]);
      assert.equal(m.graph.nodes.find((n) => n.op_type === 'Conv')!.input![2], 'B_used');
      assert.equal(await assertInitialized(m, batch), 1);
    });

    for (const [opset, irVersion] of [[7, 3], [11, 6], [18, 8], [21, 10]]) {
      it(`Conv + Gemm at opset ${opset} (IR ${irVersion})`, async () => {
        const m = model([
          makeNode('Conv', ['x', 'K'], ['c'], { pads: [1, 1, 1, 1] }),
          makeNode('Relu', ['c'], ['a']),
          makeNode('Flatten', ['a'], ['f']),
          makeNode('Gemm', ['f', 'W', 'B'], ['y'], { transB: 1 }),
        ], [w('K', [4, 2, 3, 3], 5), w('W', [3, 4 * 5 * 5], 6), w('B', [3], 7)], ['x', [2, 5, 5]], 'y', opset, irVersion);
        convert(m);
        const batch = batchFor(m, 16);
        await initialized(m, batch);
        assert.equal(await assertInitialized(m, batch), 2);
      });
    }

    it('float16 layers: statistics in float32, parameters stay float16', async () => {
      const H = DataType.FLOAT16;
      const m = model([
        makeNode('Conv', ['x', 'K', 'B'], ['y']),
      ], [w('K', [4, 2, 3, 3], 8, H), w('B', [4], 9, H)], ['x', [2, 6, 6]], 'y', 13, undefined, H);
      convert(m);
      const batch = batchFor(m, 16);
      await initialized(m, batch);
      const g = m.graph.initializer('K_g')!;
      assert.equal(g.data_type, H);
      assert.deepEqual(tensorDims(g), [4, 1, 1, 1]);
      await assertInitialized(m, batch, 1, { mean: 2e-3, std: 2e-2 });
    });
  });

  it('a feature constant on the batch stays finite and is reported', async () => {
    const m = fixture('mlp');
    const batch = batchFor(m, 4);
    const data = Object.values(batch)[0].data as Float32Array;
    const row = data.length / 4;
    for (let i = row; i < data.length; i++) data[i] = data[i % row];  // four equal rows
    const { report } = await initialized(m, batch);
    assert.equal(report.layers[0].constantFeatures, report.layers[0].features);
    for (const t of m.graph.initializers) if (t.data_type === F) assert.ok(readFloats(t).every(Number.isFinite), `${t.name} finite`);
  });

  it('a model with no weight-normalized layer is refused with what to do', async () => {
    const m = loadModelFile(path.join(FIXTURES, 'cnn', 'model.onnx')).model;
    await assert.rejects(initialized(m, batchFor(m, 4)), /no weight-normalized layers: convert it first/);
  });

  it('a batch of one sample is refused', async () => {
    const m = fixture('mlp');
    await assert.rejects(initialized(m, batchFor(m, 1)), /at least 2 samples/);
  });

  it('NaN in the batch is refused before the model is touched', async () => {
    const m = fixture('mlp');
    const before = saveModel(m);
    const batch = batchFor(m, 4);
    (Object.values(batch)[0].data as Float32Array)[5] = NaN;
    await assert.rejects(initialized(m, batch, { resample: {} }), /NaN or Inf/);
    assert.deepEqual(saveModel(m), before);
  });
});
