/** --data items (`FILE` or `INPUT=FILE`) read from disk into sample sources. */
import * as fs from 'node:fs';
import { option, WnError } from '../errors';
import type { SampleSource } from '../data/batch';
import { readSampleData } from '../data/sample-data';
import { readRegularFile } from './files';

/**
 * `INPUT=FILE` names the input when INPUT is one of the model's input names (a path that
 * merely contains "=" stays a path). Only regular files are read (readRegularFile: a FIFO
 * cannot block, a device cannot stream on); `what` names the option in messages.
 */
export function readDataItems(items: readonly string[], inputNames: readonly string[], what = option('data')): SampleSource[] {
  return items.map((item) => {
    const eq = item.indexOf('=');
    const named = eq > 0 && inputNames.includes(item.slice(0, eq)) && !fs.existsSync(item);
    const file = named ? item.slice(eq + 1) : item;
    if (eq > 0 && !named && inputNames.length && !fs.existsSync(item)) {
      throw new WnError(`${what} ${item}: the model has no input "${item.slice(0, eq)}" (its inputs: ${inputNames.join(', ')}), `
        + `and there is no file "${item}"`);
    }
    const bytes = readRegularFile(file, what);
    return { source: file, input: named ? item.slice(0, eq) : undefined, arrays: readSampleData(bytes, file) };
  });
}
