/**
 * Checkpoint folders. Each epoch goes into its own subfolder (epoch-0003/: model.onnx,
 * state.onnx, progress.json), written under a temporary name and renamed whole; then
 * latest.json is replaced (temporary file + rename) to point at it, and older epochs are
 * removed. A crash at any moment leaves latest.json naming a complete checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WnError } from '../errors';
import type { Model } from '../ir/model';
import { loadModelFile, saveModelFile } from './model-file';
import { decodeState, encodeState, type Progress } from '../train/checkpoint';
import type { SavedTensor } from '../train/trainer';

const LATEST = 'latest.json';

export interface Checkpoint { model: Model; state: SavedTensor[]; progress: Progress; folder: string }

export function writeCheckpoint(dir: string, model: Model, state: readonly SavedTensor[], progress: Progress): string {
  fs.mkdirSync(dir, { recursive: true });
  const name = `epoch-${String(progress.epoch).padStart(4, '0')}`;
  const temp = path.join(dir, `.${name}.tmp-${process.pid}`);
  fs.rmSync(temp, { recursive: true, force: true });
  fs.mkdirSync(temp);
  try {
    saveModelFile(model, path.join(temp, 'model.onnx'));
    fs.writeFileSync(path.join(temp, 'state.onnx'), encodeState(state));
    fs.writeFileSync(path.join(temp, 'progress.json'), `${JSON.stringify(progress, null, 2)}\n`);
    const final = path.join(dir, name);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(temp, final);
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
  const latestTemp = path.join(dir, `.${LATEST}.tmp-${process.pid}`);
  fs.writeFileSync(latestTemp, `${JSON.stringify({ epoch: progress.epoch, folder: name })}\n`);
  fs.renameSync(latestTemp, path.join(dir, LATEST));
  for (const entry of fs.readdirSync(dir)) {
    if (/^epoch-\d+$/.test(entry) && entry !== name) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
  return path.join(dir, name);
}

export function readCheckpoint(dir: string): Checkpoint {
  const latestFile = path.join(dir, LATEST);
  if (!fs.existsSync(latestFile)) throw new WnError(`--resume ${dir}: no checkpoint there (no ${LATEST}); pass the folder given to --checkpoint`);
  let folder: string;
  try {
    folder = path.join(dir, (JSON.parse(fs.readFileSync(latestFile, 'utf8')) as { folder: string }).folder);
  } catch {
    throw new WnError(`--resume ${dir}: ${LATEST} is damaged; delete the folder and start again`);
  }
  const file = (f: string) => path.join(folder, f);
  if (!['model.onnx', 'state.onnx', 'progress.json'].every((f) => fs.existsSync(file(f)))) throw new WnError(`--resume ${dir}: checkpoint ${folder} is incomplete`);
  return {
    model: loadModelFile(file('model.onnx')).model,
    state: decodeState(fs.readFileSync(file('state.onnx')), file('state.onnx')),
    progress: JSON.parse(fs.readFileSync(file('progress.json'), 'utf8')) as Progress,
    folder,
  };
}
