/**
 * MaxPool y[o] = max over window o of x: ∂x = dy put on each window's argmax (the first, as
 * ONNX Runtime and PyTorch pick), read from the Indices output of the forward MaxPool, which
 * computes them as it goes. Windows that do not overlap take MaxUnpool (opset 11), which
 * writes dy there in one pass over zeros; overlapping ones need their values added where they
 * share an argmax, a ScatterElements with reduction (opset 16). Only Y is differentiable.
 *
 * Where the execution provider has no Indices (WebGPU), each window's values are gathered and
 * ArgMax finds the same first maximum: the same positions, so the same gradient bit for bit.
 *
 * Where x is a Relu's (or LeakyRelu's) output read by this MaxPool alone and the windows do not
 * overlap, x's value at each argmax is the window's maximum y: that activation's derivative is
 * taken on y and dy, a fraction of x's size, and the activation's rule passes the result on
 * (the same products, so the same gradient bit for bit; overlapping windows add first).
 */
import { intAttribute, intsAttribute } from '../../ir/attributes';
import { elementCount } from '../../tensor/values';
import type { GradContext, GradientRule } from '../rule';
import { dilatedExtent, forwardGeometry, sameAttributes, windowSteps, type WindowGeometry } from './conv-geometry';

export const maxPoolGradRule: GradientRule = {
  ops: ['MaxPool'],
  grad(ctx) {
    if (ctx.opset < 9) ctx.fail(`its gradient needs MaxPool's Indices output and Scatter (opset 9); upgrade the model's opset`);
    const x = ctx.input(0);
    const kernel = intsAttribute(ctx.node, 'kernel_shape') ?? [];
    const { strides, dilations } = windowSteps(ctx.node, kernel);
    const overlapping = kernel.some((k, i) => strides[i] < dilatedExtent(k, dilations[i]));
    const addsDuplicates = ctx.opset >= 16;
    if (overlapping && !addsDuplicates) {
      // without ScatterElements' reduction (opset 16) an element that is the max of two windows would get one dy, not both
      ctx.fail(`its windows overlap, and adding their gradients needs ScatterElements with reduction (opset 16); upgrade the model's opset to 16`);
    }
    const activated = overlapping ? undefined : ctx.producerDerivativeTimes(x, ctx.dy()!, ctx.output(0));
    const dy = activated ?? ctx.dy()!;
    const dx = maxPoolGrad(ctx, dy, kernel, strides, overlapping, addsDuplicates);
    return [activated ? ctx.carriesProducerDerivative(dx) : dx];
  },
};

/** dy put on each window's argmax of x. */
function maxPoolGrad(ctx: GradContext, dy: string, kernel: number[], strides: number[], overlapping: boolean, addsDuplicates: boolean): string {
  const x = ctx.input(0);
  if (!ctx.lowering.maxPoolIndices) {
    // per (sample, channel) positions, so the scatter runs along the last axis of [N, C, positions]
    return scatterOnArgmax(ctx, dy, windowArgmax(ctx, forwardGeometry(ctx, kernel)), [0, 0, -1], addsDuplicates);
  }
  // row-major indices address the flattened x; storage_order 1 numbers them column-major, so recompute those
  const indices = intAttribute(ctx.node, 'storage_order', 0) === 0
    ? ctx.forwardOutput(1, 'Indices')
    : ctx.multiOp('MaxPool', [x], 2, sameAttributes(ctx.node, ['storage_order']))[1];
  const signal = ctx.dims(x).slice(2);
  const windows = ctx.dims(ctx.output(0)).slice(2);
  if (!overlapping && ctx.opset >= 11 && [...signal, ...windows].every((d) => d !== null)) {
    // output_shape (opset 11) sizes the result like x. ONNX Runtime refuses one smaller than
    // (windows − 1)·stride + kernel − pads, where padding or ceil_mode reach past x; pads only
    // enter that check (the indices address x itself), so end pads make up the difference.
    const reach = kernel.map((k, i) => Math.max(0, (windows[i]! - 1) * strides[i] + k - signal[i]!));
    return ctx.op('MaxUnpool', [dy, indices, ctx.shapeOf(x)], { kernel_shape: kernel, strides, pads: [...kernel.map(() => 0), ...reach] });
  }
  return scatterOnArgmax(ctx, dy, indices, [-1], addsDuplicates);
}

/**
 * dy written at `indices` into zeros shaped like x, added where windows share an argmax; x, dy
 * and the indices are all reshaped to `view` and scattered along its last axis.
 */
function scatterOnArgmax(ctx: GradContext, dy: string, indices: string, view: number[], addsDuplicates: boolean): string {
  const x = ctx.input(0);
  const viewShape = ctx.ints(view, 'view');
  const viewed = (v: string) => ctx.op('Reshape', [v, viewShape]);
  const zeros = ctx.op('Expand', [ctx.scalar(0, x), ctx.shape(x)], {}, 'zeros');
  const inputs = [viewed(zeros), viewed(indices), viewed(dy)];
  const axis = view.length - 1;
  const scattered = ctx.opset >= 11
    ? ctx.op('ScatterElements', inputs, { axis, ...(addsDuplicates ? { reduction: 'add' } : {}) })
    : ctx.op('Scatter', inputs, { axis });
  return ctx.reshapeLike(scattered, x);
}

/**
 * Each window's first maximum as a position in its (sample, channel) plane of x, [N, C, windows]:
 * x's values gathered window by window, kernel positions in row-major order as MaxPool scans them,
 * then ArgMax (first maximum). A padding position stands for the window's first position inside
 * x: it can win only where that value is the maximum, and then that position is the first one.
 */
function windowArgmax(ctx: GradContext, g: WindowGeometry): string {
  const windowCount = elementCount(g.windows);
  const kernelSize = elementCount(g.kernel);
  const positions = ctx.ints(windowPositions(ctx, g), 'window_positions');
  const plane = ctx.op('Reshape', [ctx.input(0), ctx.ints([0, 0, -1], 'plane')]);
  const gathered = ctx.op('Gather', [plane, positions], { axis: 2 }, 'windows');
  const windows = ctx.op('Reshape', [gathered, ctx.ints([0, 0, windowCount, kernelSize], 'windows_shape')]);
  const first = ctx.op('ArgMax', [windows], { axis: 3, keepdims: 0 });
  const starts = Array.from({ length: windowCount }, (_, w) => w * kernelSize);
  const entry = ctx.op('Add', [first, ctx.ints(starts, 'window_starts')], {}, 'entry');
  return ctx.op('Gather', [positions, entry], { axis: 0 }, 'argmax');
}

/** The plane position of every (window, kernel offset), both row-major: windows × kernel entries. */
function windowPositions(ctx: GradContext, g: WindowGeometry): number[] {
  const rank = g.kernel.length;
  const planeStrides = g.signal.map((_, i) => elementCount(g.signal.slice(i + 1)));
  const unravel = (index: number, dims: number[]) => dims.map((_, i) => Math.floor(index / elementCount(dims.slice(i + 1))) % dims[i]);
  const positions: number[] = [];
  for (let w = 0; w < elementCount(g.windows); w++) {
    const o = unravel(w, g.windows);
    const entries: (number | undefined)[] = [];
    for (let t = 0; t < elementCount(g.kernel); t++) {
      const offset = unravel(t, g.kernel);
      const at = Array.from({ length: rank }, (_, i) => o[i] * g.strides[i] + offset[i] * g.dilations[i] - g.padsBegin[i]);
      const inside = at.every((p, i) => p >= 0 && p < g.signal[i]);
      entries.push(inside ? at.reduce((sum, p, i) => sum + p * planeStrides[i], 0) : undefined);
    }
    const firstInside = entries.find((p) => p !== undefined);
    if (firstInside === undefined) ctx.fail(`window ${w} lies entirely in the padding`);
    positions.push(...entries.map((p) => p ?? firstInside));
  }
  return positions;
}
