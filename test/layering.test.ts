/** The house is one-way (test/helpers/layering.ts declares the order), and the guard can fail. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layeringViolations } from './helpers/layering';
import { root } from './helpers/cli';

/** Every .ts file of src/ and transforms/, by path relative to the root. */
function sources(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.set(rel, fs.readFileSync(path.join(root, rel), 'utf8'));
    }
  };
  walk('src');
  walk('transforms');
  return files;
}

describe('layering', () => {
  it('no import goes against the declared order, and nothing outside the Node edge needs Node', () => {
    const files = sources();
    assert.ok(files.size > 50, `read ${files.size} source files`);
    assert.deepEqual(layeringViolations(files), []);
  });

  it('catches planted violations: an upward import, a same-layer import, a Node-only import and global, an undeclared room', () => {
    const files = sources();
    const plant = (file: string, line: string) => files.set(file, `${line}\n${files.get(file)}`);
    plant('src/wn/layers.ts', "import { Trainer } from '../train/trainer';");
    plant('transforms/fold.ts', "import { runModel } from '../src/runtime/session';");
    plant('src/onnx/codec.ts', "import * as fs from 'node:fs';");
    plant('src/tensor/values.ts', 'const debug = process.env.DEBUG;');
    files.set('src/extra/thing.ts', "export const thing = 1;");
    const found = layeringViolations(files);
    for (const pattern of [
      /src\/wn\/layers\.ts \(src\/wn\) imports \.\.\/train\/trainer \(src\/train\), which is above it/,
      /transforms\/fold\.ts \(transforms\) imports \.\.\/src\/runtime\/session \(src\/runtime\), which is beside it/,
      /src\/onnx\/codec\.ts imports node:fs, which needs Node/,
      /src\/tensor\/values\.ts uses a Node global/,
      /src\/extra\/thing\.ts: room src\/extra is not in the declared layers/,
    ]) assert.ok(found.some((p) => pattern.test(p)), `${pattern} among:\n${found.join('\n')}`);
    assert.equal(found.length, 5, found.join('\n'));
  });
});
