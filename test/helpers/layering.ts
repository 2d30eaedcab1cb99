/**
 * The declared layering of src/ and transforms/, and a checker that reads the imports of every
 * source file. Rooms are folders (src/onnx, transforms/data-init, …); files directly in src/
 * and in transforms/ are rooms of their own kind as below. A room imports only rooms of lower
 * layers; rooms of one layer never import each other; only the Node edge imports Node-only
 * modules or uses Node's globals.
 */
import { builtinModules } from 'node:module';
import * as path from 'node:path';

/** Lowest first. */
export const LAYERS: readonly (readonly string[])[] = [
  ['src/errors.ts'],
  ['src/onnx'],
  ['src/tensor'],
  ['src/ir'],
  ['src/data', 'src/wn', 'src/autodiff'],
  // the door to ONNX Runtime and the passes: a pass that must run something takes a runner
  ['src/runtime', 'transforms', 'transforms/*'],
  ['src/train'],
  ['src/index.ts'],
  ['src/node'],
  ['src/node.ts'],
  ['src/cli'],
];

/** Rooms that may import Node-only modules and use Node's globals. */
export const NODE_EDGE: readonly string[] = ['src/node', 'src/node.ts', 'src/cli'];

/** Packages that need Node (besides Node's own modules). */
const NODE_ONLY_PACKAGES = new Set(['onnxruntime-node', 'commander', 'cli-progress', '@resvg/resvg-js']);

const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|import\(\s*['"]([^'"]+)['"]\s*\)/gs;
const NODE_GLOBAL = /\b(?:process\.|Buffer\b|__dirname\b|require\()/;

/** The room of a file path relative to the project root (posix separators). */
export function roomOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'transforms') return parts.length > 2 ? `transforms/${parts[1]}` : 'transforms';
  return parts.length > 2 ? parts.slice(0, 2).join('/') : file;
}

function layerOf(room: string): number {
  return LAYERS.findIndex((layer) => layer.some((r) => r === room || (r.endsWith('/*') && room.startsWith(r.slice(0, -1)))));
}

const isNodeOnly = (spec: string) => {
  const bare = spec.replace(/^node:/, '');
  const name = bare.startsWith('@') ? bare.split('/').slice(0, 2).join('/') : bare.split('/')[0];
  return spec.startsWith('node:') || builtinModules.includes(name) || NODE_ONLY_PACKAGES.has(name);
};

/** Source without comments (an import or a global named in a comment is not a use). */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** Code without comments and string contents. */
function codeOnly(source: string): string {
  return withoutComments(source).replace(/(['"`])(?:\\.|(?!\1).)*\1/g, "''");
}

/**
 * Every violation of the layering in `files` (path relative to the root → source text): an
 * undeclared room, an import of a higher or same-layer room, a Node-only import or global
 * outside the Node edge.
 */
export function layeringViolations(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, source] of files) {
    const room = roomOf(file);
    const layer = layerOf(room);
    if (layer < 0) {
      problems.push(`${file}: room ${room} is not in the declared layers`);
      continue;
    }
    const edge = NODE_EDGE.includes(room);
    for (const match of withoutComments(source).matchAll(IMPORT)) {
      const spec = match[1] ?? match[2] ?? match[3];
      if (!spec.startsWith('.')) {
        if (!edge && isNodeOnly(spec)) problems.push(`${file} imports ${spec}, which needs Node (only ${NODE_EDGE.join(', ')} may)`);
        continue;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const candidates = [`${target}.ts`, `${target}/index.ts`];
      const resolved = candidates.find((c) => files.has(c)) ?? candidates[0];
      const targetRoom = roomOf(resolved);
      if (targetRoom === room) continue;
      const targetLayer = layerOf(targetRoom);
      if (targetLayer >= layer) {
        problems.push(`${file} (${room}) imports ${spec} (${targetRoom}), which is ${targetLayer === layer ? 'beside it' : 'above it'} in the declared order`);
      }
    }
    if (!edge && NODE_GLOBAL.test(codeOnly(source))) problems.push(`${file} uses a Node global (process, Buffer, __dirname, require), outside the Node edge`);
  }
  return problems;
}
