/**
 * A step graph's MaxPool with Indices on ONNX Runtime's NCHWc kernels, for windows that tile
 * the input (kernel = strides, no padding, no dilation). ONNX Runtime computes Indices in a
 * branchy loop of its own, not in its vectorized pooling: on the bundled CNN's first pool
 * (100×16×28×28) 1.7 ms, where the NCHWc MaxPool takes under 0.1 ms. Here the same Indices come
 * from vectorized ops on the NCHWc tensor: each position's priority (higher for earlier
 * positions: `top` − its flat index in the sample) where it equals its window's maximum, 0
 * elsewhere, and a second NCHWc MaxPool picks the first maximum's priority. Exact, ties
 * included (an all-zero window after a Relu gives its first position, as ONNX Runtime does),
 * while priorities stay whole floats (`top` ≤ 2^24). Kernel time on that pool, its input
 * already in NCHWc (profiled): 1.9 ms (ReorderOutput + MaxPool with Indices) against 1.2 ms.
 */
import type { NodeProto } from '../onnx/proto';
import { DataType } from '../onnx/enums';
import { Builder } from '../ir/builder';
import type { Graph } from '../ir/graph';
import { intAttribute } from '../ir/attributes';
import type { ValueType } from '../ir/value-types';
import { floatTensor } from '../tensor/values';
import { sameAttributes } from '../autodiff/grads/conv-geometry';
import { blockedCount, NCHWC_DOMAIN } from '../runtime/nchwc';

/** Priorities are float32 whole numbers: exact up to 2^24. */
const LARGEST_WHOLE_FLOAT = 2 ** 24;

/**
 * A pool the lowering takes: its windows, its input's channels and plane (height, width), the
 * part of the plane its whole windows cover (MaxPool leaves out the rows and columns past the
 * last), and the ReorderOutput that made its input from an NCHWc tensor, if one did.
 */
interface TiledPool { kernel: number[]; channels: number; plane: number[]; covered: number[]; source?: NodeProto }

/**
 * Lowers each MaxPool with Indices of tiling windows whose input has known dims; returns how many.
 * `opset` is the graph's default opset (Range and float Equal need 11). `graph` is a copy whose
 * nodes are shared with the step graph: nodes are replaced, never edited.
 */
export function lowerMaxPoolsToNchwc(graph: Graph, opset: number, types: ReadonlyMap<string, ValueType>, block: number): number {
  if (opset < 11) return 0;
  let count = 0;
  for (const pool of [...graph.nodes]) {
    const tiled = pool.op_type === 'MaxPool' && !pool.domain ? tiledPool(graph, types, pool, block) : undefined;
    if (!tiled) continue;
    replacePool(graph, opset, pool, tiled, block);
    count++;
  }
  return count;
}

function tiledPool(graph: Graph, types: ReadonlyMap<string, ValueType>, pool: NodeProto, block: number): TiledPool | undefined {
  const [x] = pool.input!;
  if (!pool.output?.[1]) return undefined;
  const a = sameAttributes(pool);
  const kernel = a.kernel_shape as number[] | undefined;
  const all = (values: unknown, value: number) => values === undefined || (values as number[]).every((v) => v === value);
  const tiles = kernel?.length === 2
    && JSON.stringify(a.strides) === JSON.stringify(kernel)
    && all(a.pads, 0) && all(a.dilations, 1)
    && !a.ceil_mode && !a.storage_order
    && (a.auto_pad === undefined || a.auto_pad === 'NOTSET' || a.auto_pad === 'VALID');
  const known = types.get(x);
  if (!tiles || known?.type !== DataType.FLOAT || known.dims.length !== 4) return undefined;
  const [, channels, ...plane] = known.dims;
  if (channels === null || plane.some((d) => d === null)) return undefined;
  const producer = graph.producer(x);
  const reordered = producer?.domain === NCHWC_DOMAIN && producer.op_type === 'ReorderOutput';
  const source = reordered && intAttribute(producer, 'channels', 0) === channels ? producer : undefined;
  // ReorderInput takes channel counts in multiples of 4
  if (!source && channels % 4 !== 0) return undefined;
  if (blockedCount(channels, block) * (plane[0]! * plane[1]!) > LARGEST_WHOLE_FLOAT) return undefined;
  const covered = (plane as number[]).map((d, i) => d - (d % kernel[i]));
  return { kernel, channels, plane: plane as number[], covered, source };
}

function replacePool(graph: Graph, opset: number, pool: NodeProto, tiled: TiledPool, block: number): void {
  const { kernel, channels, plane, source } = tiled;
  const [x] = pool.input!;
  const [y, indices] = pool.output!;
  const b = new Builder(graph, opset, `${pool.name || y}/nchwc`, 'wn-onnx training step: MaxPool with Indices on NCHWc kernels');
  const windows = { kernel_shape: kernel, strides: kernel };
  const blocked = croppedToWindows(b, source ? source.input![0] : b.customOp(NCHWC_DOMAIN, 'ReorderInput', [x]), tiled, block);
  const pooled = b.customOp(NCHWC_DOMAIN, 'MaxPool', [blocked], windows);
  b.customOp(NCHWC_DOMAIN, 'ReorderOutput', [pooled], { channels }, 'ReorderOutput', y);
  // each position where it equals its window's maximum: its priority, else 0; the largest is the first maximum's
  const maxima = b.customOp(NCHWC_DOMAIN, 'Upsample', [pooled], { scales: [1, 1, ...kernel], mode: 'nearest' }, 'maxima');
  const isMax = b.cast(b.op('Equal', [blocked, maxima]), DataType.FLOAT, 'is_max');
  const { name: priorities, top } = priorityTensor(b, tiled, block);
  const candidates = b.op('Mul', [isMax, priorities], {}, 'candidates');
  const first = b.customOp(NCHWC_DOMAIN, 'MaxPool', [candidates], windows, 'first');
  const firstNchw = b.customOp(NCHWC_DOMAIN, 'ReorderOutput', [first], { channels }, 'first_nchw');
  const inSampleFloat = b.op('Sub', [b.constantScalar('top', DataType.FLOAT, top), firstNchw], {}, 'in_sample_float');
  // through int32: ONNX Runtime casts float to int32 and int32 to int64 in half the time of float to int64
  const inSample = b.cast(b.cast(inSampleFloat, DataType.INT32, 'in_sample_int32'), DataType.INT64, 'in_sample');
  b.op('Add', [sampleStarts(b, y, channels * plane[0] * plane[1]), inSample], {}, 'Indices', indices);
  b.replace([pool], [y, indices]);
  if (source) dropReorder(graph, source, channels % block === 0);
}

/** Indices number the whole batch: sample n's start, n·`sampleSize`, as [N, 1, 1, 1] (N: `y`'s batch). */
function sampleStarts(b: Builder, y: string, sampleSize: number): string {
  const rows = b.op('Gather', [b.op('Shape', [y]), b.constantScalar('batch_axis', DataType.INT64, 0)], {}, 'rows');
  const [zero, one] = [b.constantScalar('zero', DataType.INT64, 0), b.constantScalar('one', DataType.INT64, 1)];
  const sampleIndex = b.op('Range', [zero, rows, one], {}, 'sample_index');
  const starts = b.op('Mul', [sampleIndex, b.constantScalar('sample_size', DataType.INT64, sampleSize)], {}, 'sample_starts');
  return b.reshape(starts, [-1, 1, 1, 1], 'sample_starts_shape');
}

/**
 * Removes the ReorderOutput that made the pool's input where nothing else reads that input but
 * a Shape (MaxUnpool's output shape), which reads the NCHWc tensor where channels fill whole blocks.
 */
function dropReorder(graph: Graph, reorder: NodeProto, wholeBlocks: boolean): void {
  const out = reorder.output![0];
  const readers = [...graph.consumers(out)];
  const shapes = readers.every((r) => r.op_type === 'Shape' && !r.domain && !r.attribute?.length);
  if (graph.isGraphOutput(out) || !shapes || (readers.length && !wholeBlocks)) return;
  for (const shape of readers) graph.redirectInput(shape, out, reorder.input![0]);
  graph.removeNodes([reorder]);
}

/**
 * The NCHWc tensor where whole windows cover it: sliced as [N, C/block, H, W, block], since ONNX
 * ops read an NCHWc tensor's dims as NCHW.
 */
function croppedToWindows(b: Builder, blocked: string, { channels, plane, covered }: TiledPool, block: number): string {
  if (covered.every((d, i) => d === plane[i])) return blocked;
  const split = b.reshape(blocked, [0, blockedCount(channels, block) / block, ...plane, block], 'blocks');
  const axes = b.constantInt64('crop_axes', [2, 3]);
  const cropped = b.op('Slice', [split, b.constantInt64('crop_starts', [0, 0]), b.constantInt64('crop_ends', covered), axes], {}, 'crop');
  return b.reshape(cropped, [0, blockedCount(channels, block), ...covered], 'cropped');
}

/**
 * [1, C blocked, h, w] in NCHWc order (h × w: the plane's whole windows): at channel c, row h,
 * column w, `top` − ((c·H + h)·W + w), where `top` exceeds every such index: earlier positions
 * of a window rank higher, all above 0.
 */
function priorityTensor(b: Builder, { channels, plane, covered }: TiledPool, block: number): { name: string; top: number } {
  const [height, width] = plane;
  const [rows, columns] = covered;
  const blocked = blockedCount(channels, block);
  const top = blocked * height * width;
  const values = new Float32Array(blocked * rows * columns);
  for (let cb = 0, at = 0; cb < blocked / block; cb++) {
    for (let h = 0; h < rows; h++) {
      for (let w = 0; w < columns; w++) {
        for (let j = 0; j < block; j++, at++) values[at] = top - (((cb * block + j) * height + h) * width + w);
      }
    }
  }
  const name = b.name('priorities');
  b.initializers.push(floatTensor(name, DataType.FLOAT, [1, blocked, rows, columns], values));
  return { name, top };
}
