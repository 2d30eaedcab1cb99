/** --data items (`FILE` or `INPUT=FILE`) read from disk into sample sources. */
import * as fs from 'node:fs';
import { option, WnError } from '../errors';
import type { SampleSource } from '../data/batch';
import { readSampleData } from '../data/sample-data';

/**
 * `INPUT=FILE` names the input when INPUT is one of the model's input names (a path that
 * merely contains "=" stays a path).
 */
export function readDataItems(items: readonly string[], inputNames: readonly string[]): SampleSource[] {
  return items.map((item) => {
    const eq = item.indexOf('=');
    const named = eq > 0 && inputNames.includes(item.slice(0, eq)) && !fs.existsSync(item);
    const file = named ? item.slice(eq + 1) : item;
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new WnError(`${option('data')} ${item}: cannot read "${file}"${code === 'ENOENT' ? ' (no such file)' : code === 'EISDIR' ? ' (it is a folder)' : ''}`);
    }
    return { source: file, input: named ? item.slice(0, eq) : undefined, arrays: readSampleData(bytes, file) };
  });
}
