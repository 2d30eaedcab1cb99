/** Running the wn-onnx command line as a user does, and checking its failures. */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const root = path.resolve(__dirname, '..', '..', '..');
const bin = path.join(root, 'bin', 'wn-onnx.js');
const swiftshaderIcd = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Environment for --ep webgpu: SwiftShader's Vulkan driver where no GPU driver is configured. */
export const webgpuEnv = (): NodeJS.ProcessEnv => (fs.existsSync(swiftshaderIcd) && !process.env.VK_DRIVER_FILES
  ? { VK_DRIVER_FILES: swiftshaderIcd, VK_ICD_FILENAMES: swiftshaderIcd, XDG_RUNTIME_DIR: os.tmpdir() } : {});

/** Longest a command may run in a test: a hang fails the test (status null) instead of stalling the suite. */
const COMMAND_TIMEOUT_MS = 300_000;

export function cli(args: string[], input?: Buffer, env: NodeJS.ProcessEnv = {}, timeout = COMMAND_TIMEOUT_MS) {
  const result = spawnSync(process.execPath, [bin, ...args], { input, env: { ...process.env, ...env }, maxBuffer: 1 << 28, timeout });
  return { code: result.status, stdout: result.stdout, out: result.stdout.toString(), err: result.stderr.toString() };
}

/** A failed command: non-zero exit, one line on stderr, no stack trace. */
export function assertOneLineError(result: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.notEqual(result.code, 0);
  const lines = result.err.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${result.err}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(result.err, /\n\s+at /);
}
