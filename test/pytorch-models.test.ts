/**
 * Real PyTorch-exported models (test/fixtures/pytorch, written by test/fixtures/make_fixtures.py):
 * each runs in onnxruntime-node and matches PyTorch's own output, is converted to weight-norm
 * form and still matches, and folds back to exactly the original graph and weights.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { inputSpecs, loadModelFile, saveModel, saveModelFile } from '../src/node';
import { inputTensor } from '../src/runtime/tensors';
import type { Model } from '../src/ir/model';
import { readNpySeries } from './helpers/npy';
import { assertModelMatches, runtime, type Tolerance } from './helpers/ort';
import { checkRoundTrip, type ExpectedSkip } from './helpers/roundtrip';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'pytorch');

/** float32 models against PyTorch's float32 output. */
const FLOAT32: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/**
 * The float16 model: the reference is PyTorch float32 arithmetic on the same float16-rounded
 * weights and input, while ONNX Runtime rounds the output to float16 (unit roundoff
 * 2^-11 ≈ 4.9e-4) and, where it has half-precision kernels, every intermediate too; after convert
 * a weight W = g·v/‖v‖ recomputed from a float16 g can also sit one float16 ulp from the original.
 * Outputs here are |y| ≲ 0.25, and CPU runs differ by ≲ 1e-4 absolute; rtol 4e-3 / atol 1e-3
 * (about 8 float16 ulps) leaves room for native half-precision accumulation (a Conv over 27
 * products, a Gemm over 64) while a wrong norm axis or gain still changes outputs far more.
 */
const FLOAT16: Tolerance = { rtol: 4e-3, atol: 1e-3 };

/**
 * Folding a float16 weight: g = ‖W‖ is stored in float16 (relative error ≤ 2^-11), and
 * g·v/‖v‖ is rounded back to float16, so a folded element may land one float16 ulp away from the
 * original: at most 2^-10 ≈ 9.8e-4 relative for normal numbers.
 */
const FLOAT16_WEIGHT_RTOL = 2 ** -10;

interface ModelCase {
  name: string;
  description: string;
  converted: number;
  layers: Record<string, number>;
  skipped?: ExpectedSkip[];
  tolerance?: Tolerance;
  weightRtol?: number;
  /** Expected default-domain opset and IR version (guards the fixture's purpose). */
  opset: number;
  ir?: number;
  afterConvert?: (model: Model, feeds: Record<string, ort.Tensor>, expected: ReturnType<typeof readNpySeries>) => Promise<void>;
}

const CASES: ModelCase[] = [
  { name: 'mlp', description: 'MLP: Linear -> Gemm (transB), bias-free Linear -> MatMul', opset: 13, converted: 3, layers: { Gemm: 2, MatMul: 1 } },
  { name: 'cnn', description: 'CNN: Conv+BatchNorm (folded) + ReLU + MaxPool + GlobalAveragePool + Linear', opset: 13, converted: 3, layers: { Conv: 2, Gemm: 1 } },
  { name: 'conv_transpose', description: 'ConvTranspose2d with groups=2, and one without bias', opset: 13, converted: 2, layers: { ConvTranspose: 2 } },
  { name: 'conv1d', description: 'Conv1d with groups and dilation, depthwise and pointwise', opset: 13, converted: 3, layers: { Conv: 3 } },
  // one LSTM node per layer, W and R each with both directions: 2 layers x (W, R) = 4, plus the head
  { name: 'lstm', description: '2-layer bidirectional LSTM + Linear head (two outputs)', opset: 13, converted: 5, layers: { LSTM: 4, MatMul: 1 } },
  { name: 'gru', description: '2-layer GRU + Linear head (two outputs)', opset: 13, converted: 5, layers: { GRU: 4, MatMul: 1 } },
  { name: 'rnn', description: 'bidirectional tanh RNN + Linear head', opset: 13, converted: 3, layers: { RNN: 2, MatMul: 1 } },
  {
    name: 'attention',
    description: 'nn.MultiheadAttention + LayerNorm + feed-forward',
    opset: 13,
    // in_proj (MatMul), out_proj (Gemm), ff1 and ff2 (MatMul)
    converted: 4,
    layers: { MatMul: 3, Gemm: 1 },
    // q @ k^T and softmax @ v: both operands are activations
    skipped: [{ count: 2, reason: /computed by (Transpose|Reshape) node .*not a constant/ }],
  },
  { name: 'residual', description: 'residual block with a 1x1 projection shortcut', opset: 13, converted: 3, layers: { Conv: 3 } },
  { name: 'opset7', description: 'opset 7 (IR 3): the norm floor is a Clip', opset: 7, ir: 3, converted: 2, layers: { Conv: 1, Gemm: 1 } },
  { name: 'opset9', description: 'opset 9: ReLU6 as Clip with attributes, ReduceL2 axes attribute', opset: 9, converted: 2, layers: { Conv: 1, Gemm: 1 } },
  { name: 'opset18', description: 'opset 18: ReduceL2 takes axes as an input', opset: 18, converted: 2, layers: { Conv: 1, Gemm: 1 } },
  {
    name: 'float16',
    description: 'float16 weights, input and output',
    opset: 13,
    converted: 2,
    layers: { Conv: 1, Gemm: 1 },
    tolerance: FLOAT16,
    weightRtol: FLOAT16_WEIGHT_RTOL,
  },
  { name: 'ir3', description: 'IR 3: initializers also listed as graph inputs', opset: 13, ir: 3, converted: 3, layers: { Conv: 1, Gemm: 1, MatMul: 1 } },
  {
    name: 'external',
    description: 'all tensors in one external data file',
    opset: 13,
    converted: 3,
    layers: { Conv: 2, Gemm: 1 },
    // the converted model saved with external data, read back and run from its path
    afterConvert: async (model, feeds, expected) => {
      const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-external-'));
      try {
        const file = path.join(folder, 'model.onnx');
        saveModelFile(model, file);
        const data = path.join(folder, 'model.onnx.data');
        assert.ok(fs.existsSync(data), 'the converted model keeps its external data file');
        assert.ok(fs.statSync(file).size < fs.statSync(data).size, 'weights stay in the external file');
        const reloaded = loadModelFile(file);
        assert.ok(reloaded.files.has(data), 'the reloaded model reads the external file');
        const inline = saveModel(reloaded.model);
        await assertModelMatches('converted model saved with external data', inline, feeds, expected, FLOAT32);
      } finally {
        fs.rmSync(folder, { recursive: true, force: true });
      }
    },
  },
];

describe('PyTorch-exported models: convert and fold', function () {
  it('has every fixture on disk', function () {
    for (const c of CASES) assert.ok(fs.existsSync(path.join(FIXTURES, c.name, 'model.onnx')), `missing fixture ${c.name}; run /usr/bin/python3 test/fixtures/make_fixtures.py`);
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.description} (${c.converted} weights)`, async function () {
      const folder = path.join(FIXTURES, c.name);
      const { model } = loadModelFile(path.join(folder, 'model.onnx'));
      assert.equal(model.opset(), c.opset, 'fixture opset');
      if (c.ir !== undefined) assert.equal(model.irVersion, c.ir, 'fixture IR version');
      const specs = inputSpecs(model);
      const inputs = readNpySeries(folder, 'input');
      assert.equal(inputs.length, specs.length, 'one input_N.npy per model input');
      const feeds = Object.fromEntries(specs.map((spec, i) => [spec.name, inputTensor(runtime, { spec, array: inputs[i], source: `${c.name}/input_${i}.npy` }, inputs[i].shape[0])]));
      const expected = readNpySeries(folder, 'output');
      await checkRoundTrip({
        model,
        data: [{ feeds, expected }],
        tolerance: c.tolerance ?? FLOAT32,
        converted: c.converted,
        layers: c.layers,
        skipped: c.skipped,
        weightRtol: c.weightRtol,
        afterConvert: c.afterConvert && ((m) => c.afterConvert!(m, feeds, expected)),
      });
    });
  }
});
