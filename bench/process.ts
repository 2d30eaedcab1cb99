/** Running one benchmark measurement as a process of its own, and the median (shared by the bench scripts). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export interface ProcessResult { stdout: string; seconds: number }

/** Runs a command to its exit, timed end to end; a failure throws with its output. */
export function runProcess(command: string, args: readonly string[]): ProcessResult {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  return { stdout: r.stdout, seconds };
}

const TIME = '/usr/bin/time';

/** GNU time measures the peak memory of the benchmarks' processes. */
export function requireGnuTime(): void {
  if (!fs.existsSync(TIME)) throw new Error(`${TIME} (GNU time) is needed to measure peak memory: install it with \`apt-get install -y time\``);
}

export interface Measured { wallS: number; rssBytes: number; stdout: string; stderr: string }

/** Runs a command under GNU time (/usr/bin/time): wall time (this process's clock) and the child's peak RSS. */
export function measured(command: string, args: string[]): Measured {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', 'WNBENCH %e %M', command, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw r.error;
  const lines = r.stderr.trimEnd().split('\n');
  const last = lines.pop() ?? '';
  const m = /^WNBENCH ([\d.]+) (\d+)$/.exec(last);
  if (r.status !== 0 || !m) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  }
  return { wallS, rssBytes: Number(m[2]) * 1024, stdout: r.stdout, stderr: lines.join('\n') };
}

/** The median of some measurements. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
