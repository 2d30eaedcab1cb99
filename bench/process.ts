/** Running one benchmark measurement as a process of its own (shared by the bench scripts). */
import { spawnSync } from 'node:child_process';

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
