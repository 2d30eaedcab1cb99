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
import { FLOAT_TYPES } from '../onnx/enums';
import type { Graph } from '../ir/graph';
import { Builder } from '../ir/builder';
import { intAttribute } from '../ir/attributes';
import type { ValueType } from '../ir/value-types';
import type { Lowering } from '../autodiff/rule';
import { gatherWindows, slidingWindows, type WindowOps } from '../autodiff/grads/conv-geometry';
import { elementCount } from '../tensor/values';
import { replaceWithBuilt } from './train-mode';
import { gatheredWindowBytes } from './memory';

/** Rewrites every Conv of `graph` the lowering runs as a MatMul; `types` gains the new values. */
export function lowerConvsAsMatMul(graph: Graph, opset: number, types: Map<string, ValueType>, lowering: Lowering): void {
  for (const node of [...graph.nodes]) {
    if (node.op_type !== 'Conv' || node.domain) continue;
    const b = convAsMatMul(graph, opset, node, types, lowering);
    if (b) replaceWithBuilt(node, b, types);
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
  const bytes = gatheredWindowBytes('Conv', node.input!, node.output!, types, lowering.batchRows);
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
  const ops: WindowOps = {
    op: (opType, inputs, attributes, role) => b.op(opType, inputs, attributes, role),
    ints: (values, role) => b.constantInt64(role, values),
    pad: (x, pads) => b.pad(x, pads),
  };
  const windowed = gatherWindows(ops, x, channels, slidingWindows(node, signal, windows, kernel));
  typed(windowed.perSample, [batch, channels * positions]);
  typed(windowed.batchLast, [channels * positions, batch]);
  typed(windowed.planes, [channels, positions, batch]);
  typed(windowed.padded, [channels, windowed.padded === windowed.planes ? positions : positions + 1, batch]);
  const gathered = typed(windowed.gathered, [channels, kernelSize * windowCount, batch]);
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
