/**
 * The core names library options in its messages and reports (`freeze`, see src/errors.ts);
 * the command line shows the flag that sets each instead.
 */
const FLAGS: Record<string, string> = {
  ops: '--ops', include: '--include', exclude: '--exclude', eps: '--eps', inPlace: '--in-place',
  externalThreshold: '--external-threshold', ep: '--ep', data: '--data', batchSize: '--batch-size',
  scale: '--init-scale', std: '--std', freeze: '--freeze', output: '--loss-output', loss: '--loss',
  lr: '--lr', plot: '--plot', resume: '--resume', checkpoint: '--checkpoint',
};

/** `text` with every named option replaced by its flag. */
export function withFlags(text: string): string {
  return text.replace(/`([A-Za-z]+)`/g, (named, name: string) => FLAGS[name] ?? named);
}
