/**
 * Sample data for init and training, from the bytes of a file in any of the formats wn-onnx
 * reads, told apart by their content (not their name):
 *   .npy      one array                 magic "\x93NUMPY"
 *   .npz      arrays by name            a zip archive (np.savez, np.savez_compressed)
 *   IDX       one array (MNIST files)   magic 0 0 type rank; gzipped or not
 *   .pb       one ONNX TensorProto      anything else that decodes as one
 */
import { gunzipSync, unzipSync } from 'fflate';
import { WnError } from '../errors';
import type { NdArray } from './array';
import { isIdx, parseIdx } from './idx';
import { parseNpy } from './npy';
import { parseTensorFile } from './tensor-file';

const startsWith = (bytes: Uint8Array, magic: number[]) => magic.every((b, i) => bytes[i] === b);
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const GZIP_MAGIC = [0x1f, 0x8b];

/** The arrays in a file: one unnamed array (key '') or, for .npz, arrays by name. */
export function readSampleData(bytes: Uint8Array, source: string): Map<string, NdArray> {
  if (bytes.length === 0) throw new WnError(`${source}: the file is empty`);
  if (startsWith(bytes, GZIP_MAGIC)) {
    let inflated: Uint8Array;
    try {
      inflated = gunzipSync(bytes);
    } catch (e) {
      throw new WnError(`${source}: gzip data is damaged or truncated (${(e as Error).message})`);
    }
    return readSampleData(inflated, source);
  }
  if (startsWith(bytes, NPY_MAGIC)) return new Map([['', parseNpy(bytes, source)]]);
  if (startsWith(bytes, ZIP_MAGIC)) return parseNpz(bytes, source);
  if (isIdx(bytes)) return new Map([['', parseIdx(bytes, source)]]);
  try {
    return new Map([['', parseTensorFile(bytes, source)]]);
  } catch {
    throw new WnError(`${source}: not a sample-data file wn-onnx reads (.npy, .npz, IDX, gzipped IDX or ONNX TensorProto .pb)`);
  }
}

function parseNpz(bytes: Uint8Array, source: string): Map<string, NdArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new WnError(`${source}: not a valid .npz archive (${(e as Error).message})`);
  }
  const arrays = new Map<string, NdArray>();
  for (const [name, content] of Object.entries(files)) {
    if (!name.endsWith('.npy')) continue;
    arrays.set(name.slice(0, -4), parseNpy(content, `${source}:${name}`));
  }
  if (!arrays.size) throw new WnError(`${source}: the .npz archive holds no .npy arrays`);
  return arrays;
}
