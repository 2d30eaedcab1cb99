/**
 * glibc's malloc set up for training, and `train` run again under it. ONNX Runtime's own CPU
 * arena grows by powers of two and keeps what it takes, and its settings are not reachable from
 * JavaScript; glibc's malloc in its place is as fast only where it keeps freed memory (large
 * blocks are otherwise mapped and unmapped at every step) and keeps one arena for all threads
 * (else each of ONNX Runtime's threads holds its own). Measured (bench:scale, ResNet-18 at
 * batch 16): epoch 2.47 → 1.50 s and peak RSS 881 → 794 MB; the HiFi-GAN generator 4.95 →
 * 3.69 s and 1187 → 1153 MB. (A step estimated small keeps ONNX Runtime's arena: the trainer
 * asks for it, see SMALL_STEP_BYTES.) glibc reads these variables at process start only, hence
 * the second process.
 */
import { spawn } from 'node:child_process';

const TUNED_MALLOC: Record<string, string> = {
  MALLOC_ARENA_MAX: '1',
  // never unmap or trim: freed blocks stay for the next step (ONNX Runtime's arena keeps them too)
  MALLOC_MMAP_THRESHOLD_: String(2 ** 32),
  MALLOC_TRIM_THRESHOLD_: String(2 ** 33),
};

/**
 * V8's old generation starts at 64 MB: from V8's default start, the bundled CNN's epoch ran
 * 39–81 full collections of a heap under 9 MB (a few ms each; four traced epochs), with 64 MB
 * one; a whole 1-epoch `train` took 6.96 s against 7.68 s (medians of 6 paired runs, 2026-12-06).
 */
const TUNED_V8 = ['--initial-old-space-size=64'];

/** Set in the second process: malloc is tuned, ONNX Runtime's CPU arena can go. */
const MARK = 'WN_ONNX_TUNED_MALLOC';

export function mallocTuned(): boolean {
  return process.env[MARK] === '1';
}

/** Whether this command should run again under the tuned malloc: `train`, on Linux (glibc), not yet tuned. */
export function wantsTunedMalloc(argv: readonly string[]): boolean {
  return argv[2] === 'train' && process.platform === 'linux' && !mallocTuned() && !process.env.WN_ONNX_NO_RERUN;
}

/**
 * Runs this command again in a child with the tuned malloc and V8 flags (the caller's own flags
 * come after them, so they win), standard streams shared; resolves to its exit code. SIGINT and
 * SIGTERM are passed on; a child ended by a signal ends this process by the same signal.
 */
export function rerunWithTunedMalloc(argv: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...TUNED_V8, ...process.execArgv, ...argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, ...TUNED_MALLOC, [MARK]: '1' },
  });
  const forward = (signal: NodeJS.Signals) => () => { child.kill(signal); };
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      for (const [s, handler] of handlers) process.off(s, handler);
      if (signal) process.kill(process.pid, signal);
      resolve(code ?? 1);
    });
  });
}
