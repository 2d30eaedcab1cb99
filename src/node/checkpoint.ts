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
import { removeStaleTemporaries, writeFileAtomically, writeFolderAtomically } from './atomic';
import { readRegularFile, writeError } from './files';
import { checkedProgress, decodeState, encodeState, type Progress } from '../train/checkpoint';
import type { SavedTensor } from '../train/trainer';

const LATEST = 'latest.json';

export interface Checkpoint { model: Model; state: SavedTensor[]; progress: Progress; folder: string }

export function writeCheckpoint(dir: string, model: Model, state: readonly SavedTensor[], progress: Progress): string {
  const name = `epoch-${String(progress.epoch).padStart(4, '0')}`;
  const folder = path.join(dir, name);
  try {
    fs.mkdirSync(dir, { recursive: true });
    removeStaleTemporaries(dir, 'epoch-');
    writeFolderAtomically(folder, (temp) => {
      saveModelFile(model, path.join(temp, 'model.onnx'));
      fs.writeFileSync(path.join(temp, 'state.onnx'), encodeState(state));
      fs.writeFileSync(path.join(temp, 'progress.json'), `${JSON.stringify(progress, null, 2)}\n`);
    });
    writeFileAtomically(path.join(dir, LATEST), `${JSON.stringify({ epoch: progress.epoch, folder: name })}\n`);
    for (const entry of fs.readdirSync(dir)) {
      if (/^epoch-\d+$/.test(entry) && entry !== name) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  } catch (e) {
    throw writeError(`checkpoint ${folder}`, e);
  }
  return folder;
}

/** The JSON in a checkpoint file, or a one-line error saying the checkpoint is damaged. */
function readJson(file: string, dir: string): unknown {
  try {
    return JSON.parse(readRegularFile(file, 'checkpoint file').toString('utf8'));
  } catch (e) {
    if (e instanceof WnError) throw e;
    throw new WnError(`${option('resume')} ${dir}: ${file} is damaged (not JSON); delete the folder and start again`);
  }
}

export function readCheckpoint(dir: string): Checkpoint {
  const latestFile = path.join(dir, LATEST);
  if (!fs.existsSync(latestFile)) throw new WnError(`${option('resume')} ${dir}: no checkpoint there (no ${LATEST}); pass the folder given to ${option('checkpoint')}`);
  const latest = readJson(latestFile, dir) as { folder?: unknown };
  if (typeof latest?.folder !== 'string' || !/^epoch-\d+$/.test(latest.folder)) {
    throw new WnError(`${option('resume')} ${dir}: ${LATEST} is damaged (no epoch folder named); delete the folder and start again`);
  }
  const folder = path.join(dir, latest.folder);
  const file = (f: string) => path.join(folder, f);
  if (!['model.onnx', 'state.onnx', 'progress.json'].every((f) => fs.existsSync(file(f)))) throw new WnError(`${option('resume')} ${dir}: checkpoint ${folder} is incomplete`);
  const progress = checkedProgress(readJson(file('progress.json'), dir));
  if (!progress) throw new WnError(`${option('resume')} ${dir}: ${file('progress.json')} is damaged (epoch, steps, settings or history missing or wrong); delete the folder and start again`);
  return {
    model: loadModelFile(file('model.onnx')).model,
    state: decodeState(readRegularFile(file('state.onnx'), 'checkpoint file'), file('state.onnx')),
    progress,
    folder,
  };
}
