/**
 * The step graph's Convs with few windows per sample (ResNet's last stages: 2×2 or 4×4
 * positions) as one im2col Gather and one MatMul over the whole batch. ONNX Runtime's CPU Conv
 * runs one GEMM per sample, which with few windows reads the whole kernel once per sample:
 * for ResNet-18's 512×512×3×3 kernels at 2×2 positions and batch 16, 6.1 ms against 1.7 ms as
 * one MatMul (session.run). The backward pass then differentiates a MatMul: the weight
 * gradient is one GEMM on the same im2col, the input gradient one GEMM and the Gather's
 * scatter-add, where the Conv took a GEMM per sample for each.
 */
import type { NodeProto } from '../onnx/proto';
import { FLOAT_TYPES, DataType } from '../onnx/enums';
import type { Graph } from '../ir/graph';
import { Builder } from '../ir/builder';
import { intAttribute } from '../ir/attributes';
import type { ValueType } from '../ir/value-types';
import type { Lowering } from '../autodiff/rule';
import { slidingWindows, windowIndices } from '../autodiff/grads/conv-geometry';
import { elementCount, tensorDims } from '../tensor/values';

/** Rewrites every Conv of `graph` the lowering runs as a MatMul; `types` gains the new values. */
export function lowerConvsAsMatMul(graph: Graph, opset: number, types: Map<string, ValueType>, lowering: Lowering): void {
  for (const node of [...graph.nodes]) {
    if (node.op_type !== 'Conv' || node.domain) continue;
    const b = convAsMatMul(graph, opset, node, types, lowering);
    if (!b) continue;
    const at = graph.nodes.indexOf(node);
    graph.removeNodes([node], [node.output![0]]);
    for (const t of b.initializers) {
      graph.addInitializer(t);
      types.set(t.name!, { type: t.data_type!, dims: tensorDims(t) });
    }
    graph.insertNodes(b.nodes, at);
  }
}

/** The nodes computing `node`'s output as im2col × MatMul, or undefined where it stays a Conv. */
function convAsMatMul(graph: Graph, opset: number, node: NodeProto, types: Map<string, ValueType>, lowering: Lowering): Builder | undefined {
  const [x, w, bias] = node.input ?? [];
  const [xType, wType, yType] = [types.get(x), types.get(w), types.get(node.output![0])];
  if (!xType || !wType || !yType || !FLOAT_TYPES.has(xType.type) || intAttribute(node, 'group', 1) !== 1) return undefined;
  if ([...xType.dims.slice(1), ...wType.dims, ...yType.dims.slice(1)].some((d) => d === null)) return undefined;
  const [, channels, ...signal] = xType.dims as number[];
  const [outChannels, , ...kernel] = wType.dims as number[];
  const windows = yType.dims.slice(2) as number[];
  const windowCount = elementCount(windows);
  const kernelSize = elementCount(kernel);
  const rows = xType.dims[0] ?? lowering.batchRows;
  const bytes = channels * kernelSize * windowCount * rows * (xType.type === DataType.DOUBLE ? 8 : 4);
  if (windowCount > lowering.convMatMulWindows || bytes > lowering.im2colBytes) return undefined;

  const { type } = xType;
  const batch = xType.dims[0];
  const times = (n: number) => (batch === null ? null : n * batch);
  const b = new Builder(graph, opset, `${node.name || node.output![0]}/im2col`, 'wn-onnx training step: Conv as im2col and MatMul');
  const typed = (name: string, dims: (number | null)[]) => {
    types.set(name, { type, dims });
    return name;
  };
  const positions = elementCount(signal);
  // [N, C, …] → [C, positions, N]: the batch last, so each window's values are rows of the MatMul
  const batchLast = typed(b.op('Transpose', [typed(b.reshape(x, [0, -1], 'per_sample'), [batch, channels * positions])], { perm: [1, 0] }, 'batch_last'),
    [channels * positions, batch]);
  const planes = typed(b.reshape(batchLast, [channels, positions, -1], 'planes'), [channels, positions, batch]);
  const indices = windowIndices(slidingWindows(node, signal, windows, kernel));
  // the padding reads a zero row appended at index `positions`
  const padded = indices.includes(positions) ? typed(padPlanes(b, planes), [channels, positions + 1, batch]) : planes;
  const gathered = typed(b.op('Gather', [padded, b.constantInt64('window_indices', indices)], { axis: 1 }, 'windows'),
    [channels, kernelSize * windowCount, batch]);
  const patches = typed(b.reshape(gathered, [channels * kernelSize, -1], 'patches'), [channels * kernelSize, times(windowCount)]);
  const kernelRows = typed(b.reshape(w, [outChannels, channels * kernelSize], 'kernel_rows'), [outChannels, channels * kernelSize]);
  const product = typed(b.op('MatMul', [kernelRows, patches], {}, 'product'), [outChannels, times(windowCount)]);
  const perWindow = typed(b.reshape(product, [outChannels, windowCount, -1], 'per_window'), [outChannels, windowCount, batch]);
  const batchFirst = typed(b.op('Transpose', [perWindow], { perm: [2, 0, 1] }, 'batch_first'), [batch, outChannels, windowCount]);
  const output = node.output![0];
  if (!bias) {
    b.reshape(batchFirst, [0, outChannels, ...windows], 'output', output);
    return b;
  }
  const unbiased = typed(b.reshape(batchFirst, [0, outChannels, ...windows], 'unbiased'), [batch, outChannels, ...windows]);
  const biasShape = [outChannels, ...windows.map(() => 1)];
  b.op('Add', [unbiased, typed(b.reshape(bias, biasShape, 'bias'), biasShape)], {}, 'Add', output);
  return b;
}

/** A zero row after the positions of [C, positions, N]: pads as an input from opset 11, an attribute before. */
function padPlanes(b: Builder, planes: string): string {
  const pads = [0, 0, 0, 0, 1, 0];
  if (b.opset >= 11) return b.op('Pad', [planes, b.constantInt64('pads', pads)], {}, 'padded');
  return b.op('Pad', [planes], { mode: 'constant', pads }, 'padded');
}
