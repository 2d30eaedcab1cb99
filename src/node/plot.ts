/**
 * Training curves as an image: loss and accuracy per epoch (train and validation), drawn with
 * Vega-Lite (declarative charts, rendered headless to SVG without a browser or canvas) and
 * rasterized with resvg for .png.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { option, WnError } from '../errors';
import type { EpochSummary } from '../train/fit';
import { writeFileAtomically } from './atomic';
import { checkOutputFile, type FileSet } from './outputs';

export const PLOT_FORMATS = ['.svg', '.png'];

/** Checks a plot path before training: its format, that it can be written, that it is not an input file. */
export function checkPlotFile(file: string, inputFiles?: FileSet): void {
  if (!PLOT_FORMATS.includes(path.extname(file).toLowerCase())) throw new WnError(`${option('plot')} ${file}: choose a .svg or .png file name`);
  checkOutputFile(file, { inputFiles, what: option('plot') });
}

export async function writePlot(file: string, history: readonly EpochSummary[]): Promise<void> {
  const points = (metric: 'loss' | 'accuracy') => history.flatMap((h) => [
    { epoch: h.epoch, set: 'train', value: metric === 'loss' ? h.trainLoss : h.trainAccuracy },
    { epoch: h.epoch, set: 'validation', value: metric === 'loss' ? h.valLoss : h.valAccuracy },
  ]).filter((p) => p.value !== undefined);
  const chart = (metric: 'loss' | 'accuracy') => ({
    title: metric,
    width: 320,
    height: 220,
    data: { values: points(metric) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: metric, scale: { zero: false } },
      color: { field: 'set', type: 'nominal', title: null },
    },
  });
  const charts = points('accuracy').length ? [chart('loss'), chart('accuracy')] : [chart('loss')];
  const vegaLite = await import('vega-lite');
  const vega = await import('vega');
  const spec = vegaLite.compile({ hconcat: charts, background: 'white' } as never).spec;
  const svg = await new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG();
  const png = path.extname(file).toLowerCase() === '.png';
  const bytes = png ? new (await import('@resvg/resvg-js')).Resvg(svg, { font: { loadSystemFonts: true }, fitTo: { mode: 'zoom', value: 2 } }).render().asPng() : Buffer.from(svg);
  writeFileAtomically(file, bytes);
}
