/**
 * Sliding windows, shared by the gradients of Conv, ConvTranspose and the pools: their
 * attributes with auto_pad resolved as ONNX Runtime resolves it, and the three convolutions
 * their gradients are made of. Window o on a spatial axis covers the signal positions
 * o·stride + t·dilation − padBegin (t < kernel). Conv and the pools slide windows over their
 * input; ConvTranspose is the transpose of a Conv whose windows slide over its output. Only
 * the begin pads matter: the end follows from the signal size and the window count, both
 * read from the (static) spatial dims.
 */
import { AttributeType, DataType } from '../../onnx/enums';
import type { NodeProto } from '../../onnx/proto';
import { attribute, intsAttribute, type AttributeValue } from '../../ir/attributes';
import { toNumber } from '../../onnx/int64';
import type { GradContext } from '../rule';
import { elementCount } from '../../tensor/values';

export interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  /** Spatial size of what the windows slide over. */
  signal: number[];
  /** Number of windows along each spatial axis. */
  windows: number[];
}

/** Spatial dims (all but the first two) of a value; they size pads and crops, so they must be fixed. */
export function spatialDims(ctx: GradContext, name: string): number[] {
  const dims = ctx.dims(name);
  const spatial = dims.slice(2);
  if (spatial.some((d) => d === null)) ctx.fail(`needs fixed spatial dims for "${name}", it is [${dims.map((d) => d ?? '?')}]`);
  return spatial as number[];
}

export function autoPad(node: NodeProto): string {
  const value = attribute(node, 'auto_pad')?.s;
  return value?.length ? new TextDecoder().decode(value) : 'NOTSET';
}

/** Spatial extent of a dilated kernel. */
export function dilatedExtent(kernel: number, dilation: number): number {
  return dilation * (kernel - 1) + 1;
}

/** Windows of Conv and the pools: they slide over input 0 and produce output 0. */
export function forwardGeometry(ctx: GradContext, kernel: number[]): WindowGeometry {
  return slidingWindows(ctx.node, spatialDims(ctx, ctx.input(0)), spatialDims(ctx, ctx.output(0)), kernel);
}

/** forwardGeometry of `node` from the spatial dims of its input (`signal`) and output (`windows`). */
export function slidingWindows(node: NodeProto, signal: number[], windows: number[], kernel: number[]): WindowGeometry {
  const { strides, dilations } = windowSteps(node, kernel);
  const mode = autoPad(node);
  const explicit = explicitPadsBegin(node, kernel.length);
  const padsBegin = signal.map((size, i) => {
    if (mode === 'VALID') return 0;
    if (mode === 'NOTSET') return explicit[i];
    // SAME_*: ceil(size/stride) windows; SAME_UPPER puts the odd pad at the end
    const total = Math.max(0, (Math.ceil(size / strides[i]) - 1) * strides[i] + dilatedExtent(kernel[i], dilations[i]) - size);
    return mode === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
  });
  return { kernel, strides, dilations, padsBegin, signal, windows };
}

/**
 * Windows of ConvTranspose: input position o is scattered into window o of the output. With
 * output_shape or SAME_*, ONNX Runtime trims the full output (plus output_padding) to the
 * output's size, the odd element from the end for SAME_UPPER, from the start otherwise.
 */
export function transposedGeometry(ctx: GradContext, kernel: number[]): WindowGeometry {
  const signal = spatialDims(ctx, ctx.output(0));
  const windows = spatialDims(ctx, ctx.input(0));
  const { strides, dilations } = windowSteps(ctx.node, kernel);
  const mode = autoPad(ctx.node);
  const outputPadding = intsAttribute(ctx.node, 'output_padding') ?? [];
  const trimmed = !!intsAttribute(ctx.node, 'output_shape')?.length || mode.startsWith('SAME');
  const explicit = explicitPadsBegin(ctx.node, kernel.length);
  const padsBegin = signal.map((size, i) => {
    if (trimmed) {
      const full = (windows[i] - 1) * strides[i] + dilatedExtent(kernel[i], dilations[i]) + (outputPadding[i] ?? 0);
      const total = Math.max(0, full - size);
      return mode === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
    }
    return mode === 'VALID' ? 0 : explicit[i];
  });
  return { kernel, strides, dilations, padsBegin, signal, windows };
}

/** Strides and dilations (ones where absent). */
export function windowSteps(node: NodeProto, kernel: number[]): { strides: number[]; dilations: number[] } {
  const orOnes = (values?: number[]) => (values?.length ? values : kernel.map(() => 1));
  return { strides: orOnes(intsAttribute(node, 'strides')), dilations: orOnes(intsAttribute(node, 'dilations')) };
}

/** The first half of `pads` ([x1_begin, x2_begin, …, x1_end, …]); zeros when absent. */
function explicitPadsBegin(node: NodeProto, spatialRank: number): number[] {
  const pads = intsAttribute(node, 'pads');
  return pads?.length ? pads.slice(0, spatialRank) : Array(spatialRank).fill(0);
}

/** The node's own attributes, less some, to re-emit the op (MaxPool for its indices …). */
export function sameAttributes(node: NodeProto, except: string[] = []): Record<string, AttributeValue | { float: number }> {
  const copied: Record<string, AttributeValue | { float: number }> = {};
  for (const a of node.attribute ?? []) {
    if (!a.name || except.includes(a.name)) continue;
    if (a.type === AttributeType.INT) copied[a.name] = toNumber(a.i);
    else if (a.type === AttributeType.INTS) copied[a.name] = (a.ints ?? []).map(toNumber);
    else if (a.type === AttributeType.STRING) copied[a.name] = new TextDecoder().decode(a.s);
    else if (a.type === AttributeType.FLOAT) copied[a.name] = { float: a.f ?? 0 };
  }
  return copied;
}

/** How far the last window reaches past the end of the signal, per axis (negative: it stops short). */
export function overhang(g: WindowGeometry): number[] {
  return g.signal.map((size, i) => (g.windows[i] - 1) * g.strides[i] + dilatedExtent(g.kernel[i], g.dilations[i]) - g.padsBegin[i] - size);
}

/**
 * Conv of `signal` (spatial size g.signal) with `weights`: one value per window, g.windows of
 * them. End pads extend the signal to the last window's end where it falls short.
 */
export function slideWindows(ctx: GradContext, signal: string, weights: string, g: WindowGeometry, group: number): string {
  const reach = overhang(g);
  const slid = ctx.op('Conv', [signal, weights], { ...windowAttributes(g, group), pads: [...g.padsBegin, ...reach.map((o) => Math.max(0, o))] });
  // a signal that runs on a stride or more past the last window gives windows beyond it
  const count = g.windows.map((windows, i) => windows + Math.floor(Math.max(0, -reach[i]) / g.strides[i]));
  return cropSpatial(ctx, slid, count, g.windows);
}

/**
 * The batch size reckoned with where the batch axis is free: a typical training batch, fixed
 * rather than read from the run's settings, so that every caller (the CLI with or without a
 * memory budget, the page, an exported step) compiles the same graph, bit for bit.
 */
const FREE_BATCH_ROWS = 32;

/**
 * ConvTranspose of `windowValues` (one per window) with `weights` (dims `weightDims`): each
 * window's value spread back over the positions it covers, sized exactly like the signal. End
 * pads crop what lies past the signal; output_padding adds the tail no window reaches. At
 * stride 1 this is a Conv with the kernel reversed and its channel axes swapped, which ONNX
 * Runtime runs through its fast convolution kernels, where the values per weight are many
 * enough to pay for reversing the kernel (Lowering.flipMinValues).
 */
export function spreadWindows(ctx: GradContext, windowValues: string, weights: string, weightDims: number[], g: WindowGeometry, group: number): string {
  const reach = overhang(g);
  const flippedBegin = g.kernel.map((k, i) => dilatedExtent(k, g.dilations[i]) - 1 - g.padsBegin[i]);
  const flippedEnd = g.signal.map((size, i) => size - g.windows[i] + g.padsBegin[i]);
  // the node's input 0 carries the batch (windowValues is a gradient, of no known shape)
  const valuesPerWeight = (ctx.dims(ctx.input(0))[0] ?? FREE_BATCH_ROWS) * elementCount(g.windows);
  const flips = g.strides.every((s) => s === 1) && [...flippedBegin, ...flippedEnd].every((p) => p >= 0);
  // flipMinValues applies over two or more axes (see Lowering)
  if (flips && (g.kernel.length === 1 || valuesPerWeight >= ctx.lowering.flipMinValues)) {
    return ctx.op('Conv', [windowValues, flippedWeights(ctx, weights, weightDims, group)], {
      ...windowAttributes(g, group),
      pads: [...flippedBegin, ...flippedEnd],
    });
  }
  return ctx.op('ConvTranspose', [windowValues, weights], {
    ...windowAttributes(g, group),
    pads: [...g.padsBegin, ...reach.map((o) => Math.max(0, o))],
    output_padding: reach.map((o) => Math.max(0, -o)),
  });
}

/** Conv weights W [B, A/group, kernel…] as those of its transpose at stride 1: [A, B/group, kernel…], each kernel reversed along every axis. */
function flippedWeights(ctx: GradContext, weights: string, weightDims: number[], group: number): string {
  const [outChannels, channelsPerGroup, ...kernel] = weightDims;
  const kernelSize = elementCount(kernel);
  const grouped = ctx.op('Reshape', [weights, ctx.ints([group, outChannels / group, channelsPerGroup, kernelSize], 'grouped_kernel')]);
  // the flattened kernel read backwards is the kernel reversed along every axis
  const reversed = ctx.op('Gather', [grouped, ctx.ints([...Array(kernelSize).keys()].reverse(), 'reversed')], { axis: 3 });
  const swapped = ctx.op('Transpose', [reversed], { perm: [0, 2, 1, 3] });
  return ctx.op('Reshape', [swapped, ctx.ints([group * channelsPerGroup, outChannels / group, ...kernel], 'flipped_shape')]);
}

/**
 * ∂W of a convolution whose windows slide over `signal` [N, A, …] with one value per window in
 * `windowGrads` [N, B, …] (the gradient of a Conv's output, or a ConvTranspose's input):
 * ∂W[b, a, k] = Σ_n Σ_o signal[n, group(b)·A/group + a, o·stride + k·dilation − pad]·windowGrads[n, b, o],
 * shaped like W, [B, A/group, kernel…] (`weightDims`). Computed as one matrix product per
 * group: a Gather lays out every window of the signal ("im2col", [A/group·kernel, windows·N])
 * and a MatMul contracts it with windowGrads laid out [windows·N, B/group]. Batch last keeps
 * each gathered row a run of N values and lets windowGrads take part after one Transpose;
 * positions in the padding read an appended zero row. (A Conv with the batch as channels and
 * the windows as a kernel computes the same, but as a product only 9 columns wide for a 3×3
 * kernel: 4 to 7 times slower in ONNX Runtime; it is the way taken where the gathered windows
 * would pass the provider's `im2colBytes`, since it needs no copy of the signal per kernel offset.)
 */
export function kernelGradient(ctx: GradContext, signal: string, windowGrads: string, g: WindowGeometry, group: number, weightDims: number[]): string {
  const [outChannels, channelsPerGroup] = weightDims;
  const channels = channelsPerGroup * group;
  const windowCount = elementCount(g.windows);
  const kernelSize = elementCount(g.kernel);
  if (im2colBytes(ctx, channels * kernelSize * windowCount) > ctx.lowering.im2colBytes) {
    return kernelGradientByConv(ctx, signal, windowGrads, g, group, channelsPerGroup);
  }
  const splits = contractionSplits(channels, kernelSize * outChannels, windowCount);
  const { gathered } = gatherWindows(ctx, signal, channels, g, splits);
  const outPerGroup = outChannels / group;
  // [N, B, …] → [windows, N·B]: rows in the order of the gathered columns
  const gradsBatchLast = transpose2d(ctx, ctx.op('Reshape', [windowGrads, ctx.ints([-1, windowCount], 'per_channel')]));
  let product: string;
  if (group === 1) {
    // with splits, one product per run of windows, each its own GEMM for ONNX Runtime to spread over its threads, then their sum
    const runs = splits > 1 ? [splits] : [];
    const patches = ctx.op('Reshape', [gathered, ctx.ints([...runs, channels * kernelSize, -1], 'patches_shape')]);
    const grads = ctx.op('Reshape', [gradsBatchLast, ctx.ints([...runs, -1, outChannels], 'grads_shape')]);
    const products = ctx.op('MatMul', [patches, grads]);
    product = ctx.op('Transpose', [splits > 1 ? ctx.reduce('ReduceSum', products, [0], false) : products], { perm: [1, 0] });
  } else {
    const patches = ctx.op('Reshape', [gathered, ctx.ints([group, channelsPerGroup * kernelSize, -1], 'patches_shape')]);
    const split = ctx.op('Reshape', [gradsBatchLast, ctx.ints([-1, group, outPerGroup], 'grads_shape')]);
    const grads = ctx.op('Transpose', [split], { perm: [1, 0, 2] });
    product = ctx.op('Transpose', [ctx.op('MatMul', [patches, grads])], { perm: [0, 2, 1] });
  }
  return ctx.op('Reshape', [product, ctx.ints(weightDims, 'kernel_shape')]);
}

/** How many runs of windows the weight gradient's contraction is split into (see contractionSplits). */
const CONTRACTION_SPLITS = 4;

/**
 * A product with few rows and columns (a first layer's: 1 channel × 3×3 kernel × 16 filters)
 * and a long contraction is one GEMM with little to share out among ONNX Runtime's threads:
 * split into runs of windows, it becomes a batched MatMul, faster here (the bundled CNN's conv1,
 * [9, 78400] × [78400, 16]: 0.36 ms, split in 2 0.21 ms, in 4 0.19 ms; its conv2's
 * [144, 19600] × [19600, 32] gains nothing). One channel only: its gathered windows split by
 * reshaping, where more channels would need a transpose of them.
 */
function contractionSplits(channels: number, productColumns: number, windowCount: number): number {
  const small = channels === 1 && productColumns <= 1024;
  return small && windowCount % CONTRACTION_SPLITS === 0 ? CONTRACTION_SPLITS : 1;
}

/**
 * Bytes of the gathered windows: `perSample` values for each row of the node's input (the batch
 * it shares with the signal, which may be a gradient; `batchRows` where it varies).
 */
function im2colBytes(ctx: GradContext, perSample: number): number {
  const x = ctx.input(0);
  return perSample * (ctx.dims(x)[0] ?? ctx.lowering.batchRows) * (ctx.type(x) === DataType.DOUBLE ? 8 : 4);
}

/**
 * ∂W as kernelGradient defines it, computed as a Conv: the batch becomes the channels that are
 * summed, the windows the kernel, stride and dilation trade places, and each group's signal
 * channels become a batch of their own. Only transposed copies of the signal and windowGrads.
 */
function kernelGradientByConv(
  ctx: GradContext, signal: string, windowGrads: string, g: WindowGeometry, group: number, channelsPerGroup: number,
): string {
  const rank = g.kernel.length + 2;
  const swapFirstTwo = [1, 0, ...[...Array(rank).keys()].slice(2)];
  let regrouped: string;
  if (group === 1) {
    regrouped = ctx.op('Transpose', [signal], { perm: swapFirstTwo });
  } else {
    // [N, A, …] → [N, group, A/group, …] → [A/group, group, N, …] → [A/group, group·N, …]: batch n of group j is channel j·N + n
    const split = ctx.op('Reshape', [signal, ctx.ints([0, group, channelsPerGroup, ...g.signal], 'grouped_shape')]);
    const moved = ctx.op('Transpose', [split], { perm: [2, 1, 0, ...[...Array(rank + 1).keys()].slice(3)] });
    regrouped = ctx.op('Reshape', [moved, ctx.ints([channelsPerGroup, -1, ...g.signal], 'regrouped_shape')]);
  }
  const filters = ctx.op('Transpose', [windowGrads], { perm: swapFirstTwo });
  const swapped: WindowGeometry = {
    kernel: g.windows, strides: g.dilations, dilations: g.strides, padsBegin: g.padsBegin, signal: g.signal, windows: g.kernel,
  };
  return ctx.op('Transpose', [slideWindows(ctx, regrouped, filters, swapped, group)], { perm: swapFirstTwo });
}

/** A matrix transposed; ONNX Runtime moves 2-D data many times faster than the same data as [N, B, H, W] → [H, W, N, B]. */
function transpose2d(ctx: GradContext, matrix: string): string {
  return ctx.op('Transpose', [matrix], { perm: [1, 0] });
}

/** The ops laying out windows takes: a GradContext's, or a Builder's (the step graph's Conv lowering). */
export interface WindowOps {
  op(opType: string, inputs: string[], attributes?: Record<string, AttributeValue>, role?: string): string;
  ints(values: number[], role: string): string;
  pad(x: string, pads: number[]): string;
}

/** The values gatherWindows makes, in order, for a caller that types them. */
export interface GatheredWindows { perSample: string; batchLast: string; planes: string; padded: string; gathered: string }

/**
 * Every window of `signal` [N, C, …] laid out batch last (im2col): `gathered` is
 * [C, kernel offsets · windows, N], offsets outer, as windowIndices orders them (with `splits`,
 * [C, splits · kernel offsets · windows/splits, N]: each run of windows its own block). On the
 * way: [N, C·positions], its 2-D transpose, [C, positions, N], and that with a zero row
 * appended at index `positions` where windows reach the padding (else the same value).
 */
export function gatherWindows(ops: WindowOps, signal: string, channels: number, g: WindowGeometry, splits = 1): GatheredWindows {
  const positions = elementCount(g.signal);
  const perSample = ops.op('Reshape', [signal, ops.ints([0, -1], 'per_sample')]);
  const batchLast = ops.op('Transpose', [perSample], { perm: [1, 0] });
  const planes = ops.op('Reshape', [batchLast, ops.ints([channels, positions, -1], 'rows_shape')]);
  const indices = windowIndices(g, splits);
  const padded = indices.includes(positions) ? ops.pad(planes, [0, 0, 0, 0, 1, 0]) : planes;
  const gathered = ops.op('Gather', [padded, ops.ints(indices, 'window_indices')], { axis: 1 });
  return { perSample, batchLast, planes, padded, gathered };
}

/**
 * For each run of windows (`splits` runs, in order), each kernel offset k, then each window o of
 * the run (offsets and windows row-major), the flat signal position that o's window reads at k;
 * the padding reads position `prod(signal)` (a zero row appended there).
 */
function windowIndices(g: WindowGeometry, splits: number): number[] {
  const positions = elementCount(g.signal);
  const offsets = rowMajor(g.kernel);
  const allWindows = rowMajor(g.windows);
  const run = allWindows.length / splits;
  const indices: number[] = [];
  for (let s = 0; s < splits; s++) {
    const windows = allWindows.slice(s * run, (s + 1) * run);
    for (const k of offsets) {
      for (const o of windows) {
        let flat = 0;
        let inside = true;
        for (let i = 0; i < g.signal.length; i++) {
          const p = o[i] * g.strides[i] + k[i] * g.dilations[i] - g.padsBegin[i];
          inside &&= p >= 0 && p < g.signal[i];
          flat = flat * g.signal[i] + p;
        }
        indices.push(inside ? flat : positions);
      }
    }
  }
  return indices;
}

/** Every index of an array of the given dims, in row-major order. */
function rowMajor(dims: number[]): number[][] {
  return dims.reduce<number[][]>((acc, size) => acc.flatMap((prefix) => Array.from({ length: size }, (_, i) => [...prefix, i])), [[]]);
}

/** Per-channel sums (bias gradients): `x` summed over every axis but 1. */
export function channelSum(ctx: GradContext, x: string): string {
  const axes = [...Array(ctx.rank(ctx.output(0))).keys()].filter((axis) => axis !== 1);
  return ctx.reduce('ReduceSum', x, axes, false);
}

function windowAttributes(g: WindowGeometry, group: number): Record<string, number | number[]> {
  return { kernel_shape: g.kernel, strides: g.strides, dilations: g.dilations, group };
}

/** The leading `sizes` of each spatial axis, where `dims` (the spatial dims of `x`) exceed them. */
function cropSpatial(ctx: GradContext, x: string, dims: number[], sizes: number[]): string {
  const axes = sizes.flatMap((size, i) => (dims[i] > size ? [i + 2] : []));
  if (!axes.length) return x;
  const starts = axes.map(() => 0);
  const ends = axes.map((axis) => sizes[axis - 2]);
  if (ctx.opset >= 10) return ctx.op('Slice', [x, ctx.ints(starts, 'starts'), ctx.ints(ends, 'ends'), ctx.ints(axes, 'axes')]);
  return ctx.op('Slice', [x], { starts, ends, axes });
}
