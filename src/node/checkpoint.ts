/**
 * Checkpoint folders. Each epoch goes into its own subfolder (epoch-0003/: model.onnx,
 * state.onnx, progress.json), written under a temporary name and renamed whole; then
 * latest.json is replaced (temporary file + rename) to point at it, and older epochs are
 * removed. A crash at any moment leaves latest.json naming a complete checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { option, WnError } from '../errors';
import type { Model } from '../ir/model';
import { loadModelFile, saveModelFile } from './model-file';
import { writeFileAtomically, writeFolderAtomically } from './atomic';
import { decodeState, encodeState, type Progress } from '../train/checkpoint';
import type { SavedTensor } from '../train/trainer';

const LATEST = 'latest.json';

export interface Checkpoint { model: Model; state: SavedTensor[]; progress: Progress; folder: string }

export function writeCheckpoint(dir: string, model: Model, state: readonly SavedTensor[], progress: Progress): string {
  fs.mkdirSync(dir, { recursive: true });
  const name = `epoch-${String(progress.epoch).padStart(4, '0')}`;
  const folder = path.join(dir, name);
  writeFolderAtomically(folder, (temp) => {
    saveModelFile(model, path.join(temp, 'model.onnx'));
    fs.writeFileSync(path.join(temp, 'state.onnx'), encodeState(state));
    fs.writeFileSync(path.join(temp, 'progress.json'), `${JSON.stringify(progress, null, 2)}\n`);
  });
  writeFileAtomically(path.join(dir, LATEST), `${JSON.stringify({ epoch: progress.epoch, folder: name })}\n`);
  for (const entry of fs.readdirSync(dir)) {
    if (/^epoch-\d+$/.test(entry) && entry !== name) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
  return folder;
}

export function readCheckpoint(dir: string): Checkpoint {
  const latestFile = path.join(dir, LATEST);
  if (!fs.existsSync(latestFile)) throw new WnError(`${option('resume')} ${dir}: no checkpoint there (no ${LATEST}); pass the folder given to ${option('checkpoint')}`);
  let folder: string;
  try {
    folder = path.join(dir, (JSON.parse(fs.readFileSync(latestFile, 'utf8')) as { folder: string }).folder);
  } catch {
    throw new WnError(`${option('resume')} ${dir}: ${LATEST} is damaged; delete the folder and start again`);
  }
  const file = (f: string) => path.join(folder, f);
  if (!['model.onnx', 'state.onnx', 'progress.json'].every((f) => fs.existsSync(file(f)))) throw new WnError(`${option('resume')} ${dir}: checkpoint ${folder} is incomplete`);
  return {
    model: loadModelFile(file('model.onnx')).model,
    state: decodeState(fs.readFileSync(file('state.onnx')), file('state.onnx')),
    progress: JSON.parse(fs.readFileSync(file('progress.json'), 'utf8')) as Progress,
    folder,
  };
}
