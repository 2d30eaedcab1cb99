/**
 * Makes the bundled sample models (models/*.onnx) with wn-onnx's own builder and seeded
 * weights: an MLP, a CNN and an LSTM classifier. Run: `npm run models`.
 */
import * as path from 'node:path';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { elementCount, floatTensor, int64Tensor } from '../src/tensor/values';
import { seededRandom } from '../src/tensor/random';
import { saveModelFile } from '../src/node/model-file';
import type { TensorProto } from '../src/onnx/proto';

const random = seededRandom(2016);

/** He-style uniform init, like PyTorch's default for Linear/Conv. */
function weight(name: string, dims: number[], fanIn: number): TensorProto {
  const bound = 1 / Math.sqrt(fanIn);
  return floatTensor(name, DataType.FLOAT, dims, Float32Array.from({ length: elementCount(dims) }, () => (random() * 2 - 1) * bound));
}

const F = DataType.FLOAT;

function mlp() {
  return makeModel({
    opset: 17,
    name: 'mlp',
    inputs: [tensorInfo('input', F, ['batch', 784])],
    outputs: [tensorInfo('logits', F, ['batch', 10])],
    initializers: [
      weight('fc1.weight', [256, 784], 784), weight('fc1.bias', [256], 784),
      weight('fc2.weight', [128, 256], 256), weight('fc2.bias', [128], 256),
      weight('fc3.weight', [10, 128], 128), weight('fc3.bias', [10], 128),
    ],
    nodes: [
      makeNode('Gemm', ['input', 'fc1.weight', 'fc1.bias'], ['fc1'], { transB: 1 }),
      makeNode('Relu', ['fc1'], ['relu1']),
      makeNode('Gemm', ['relu1', 'fc2.weight', 'fc2.bias'], ['fc2'], { transB: 1 }),
      makeNode('Relu', ['fc2'], ['relu2']),
      makeNode('Gemm', ['relu2', 'fc3.weight', 'fc3.bias'], ['logits'], { transB: 1 }, 'fc3'),
    ],
  });
}

function cnn() {
  return makeModel({
    opset: 17,
    name: 'cnn',
    inputs: [tensorInfo('input', F, ['batch', 1, 28, 28])],
    outputs: [tensorInfo('logits', F, ['batch', 10])],
    initializers: [
      weight('conv1.weight', [16, 1, 3, 3], 9), weight('conv1.bias', [16], 9),
      weight('conv2.weight', [32, 16, 3, 3], 144), weight('conv2.bias', [32], 144),
      weight('fc1.weight', [64, 32 * 7 * 7], 32 * 7 * 7), weight('fc1.bias', [64], 32 * 7 * 7),
      weight('fc2.weight', [10, 64], 64), weight('fc2.bias', [10], 64),
    ],
    nodes: [
      makeNode('Conv', ['input', 'conv1.weight', 'conv1.bias'], ['conv1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
      makeNode('Relu', ['conv1'], ['relu1']),
      makeNode('MaxPool', ['relu1'], ['pool1'], { kernel_shape: [2, 2], strides: [2, 2] }),
      makeNode('Conv', ['pool1', 'conv2.weight', 'conv2.bias'], ['conv2'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
      makeNode('Relu', ['conv2'], ['relu2']),
      makeNode('MaxPool', ['relu2'], ['pool2'], { kernel_shape: [2, 2], strides: [2, 2] }),
      makeNode('Flatten', ['pool2'], ['flat'], { axis: 1 }),
      makeNode('Gemm', ['flat', 'fc1.weight', 'fc1.bias'], ['fc1'], { transB: 1 }),
      makeNode('Relu', ['fc1'], ['relu3']),
      makeNode('Gemm', ['relu3', 'fc2.weight', 'fc2.bias'], ['logits'], { transB: 1 }, 'fc2'),
    ],
  });
}

/** Sequence classifier: LSTM over [seq, batch, 32], last hidden state -> MatMul + Add. */
function lstm() {
  const hidden = 48;
  return makeModel({
    opset: 17,
    name: 'lstm',
    inputs: [tensorInfo('input', F, ['seq', 'batch', 32])],
    outputs: [tensorInfo('logits', F, ['batch', 5])],
    initializers: [
      weight('lstm.W', [1, 4 * hidden, 32], hidden), weight('lstm.R', [1, 4 * hidden, hidden], hidden),
      weight('lstm.B', [1, 8 * hidden], hidden),
      weight('head.weight', [hidden, 5], hidden), weight('head.bias', [5], hidden),
      int64Tensor('squeeze_axes', [0]),
    ],
    nodes: [
      makeNode('LSTM', ['input', 'lstm.W', 'lstm.R', 'lstm.B'], ['lstm_y', 'lstm_h'], { hidden_size: hidden }, 'lstm'),
      makeNode('Squeeze', ['lstm_h', 'squeeze_axes'], ['last_hidden']),
      makeNode('MatMul', ['last_hidden', 'head.weight'], ['head']),
      makeNode('Add', ['head', 'head.bias'], ['logits'], {}, 'head_bias'),
    ],
  });
}


const folder = path.resolve(__dirname, '..', '..', 'models');
for (const [name, model] of [['mlp', mlp()], ['cnn', cnn()], ['lstm', lstm()]] as const) {
  saveModelFile(model, path.join(folder, `${name}.onnx`));
  console.log(`wrote models/${name}.onnx`);
}
