/**
 * The loss/accuracy chart, drawn on a <canvas> (a few lines and two axes need no charting
 * library): training loss per step on the left axis, train/validation accuracy per epoch on
 * the right axis (0 to 1).
 */
export interface ChartData { losses: number[]; stepsPerEpoch: number; trainAccuracy: number[]; valAccuracy: number[] }

const COLORS = { loss: '#1f6feb', train: '#d97706', val: '#16a34a', axis: '#555' };

export function drawChart(canvas: HTMLCanvasElement, data: ChartData): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  const pad = { left: 48, right: 44, top: 12, bottom: 28 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  ctx.clearRect(0, 0, width, height);
  ctx.font = '11px sans-serif';
  ctx.strokeStyle = COLORS.axis;
  ctx.strokeRect(pad.left, pad.top, w, h);
  const steps = Math.max(data.losses.length, data.stepsPerEpoch * Math.max(data.trainAccuracy.length, data.valAccuracy.length), 1);
  const maxLoss = Math.max(...data.losses.filter(Number.isFinite), 1e-6);
  const x = (step: number) => pad.left + (w * step) / steps;
  const yLoss = (loss: number) => pad.top + h * (1 - loss / maxLoss);
  const yAcc = (acc: number) => pad.top + h * (1 - acc);
  ctx.fillStyle = COLORS.axis;
  ctx.textAlign = 'right';
  for (const f of [0, 0.5, 1]) ctx.fillText((maxLoss * f).toPrecision(2), pad.left - 4, yLoss(maxLoss * f) + 4);
  ctx.textAlign = 'left';
  for (const f of [0, 0.5, 1]) ctx.fillText(`${f * 100}%`, pad.left + w + 4, yAcc(f) + 4);
  ctx.textAlign = 'center';
  ctx.fillText(`step (${steps})`, pad.left + w / 2, height - 8);
  line(ctx, data.losses.map((l, i) => [x(i + 1), yLoss(l)]), COLORS.loss);
  const perEpoch = (acc: number[]) => acc.map((a, i): [number, number] => [x((i + 1) * data.stepsPerEpoch), yAcc(a)]).filter(([, y]) => Number.isFinite(y));
  line(ctx, perEpoch(data.trainAccuracy), COLORS.train, true);
  line(ctx, perEpoch(data.valAccuracy), COLORS.val, true);
  legend(ctx, pad.left + 8, pad.top + 14);
}

function line(ctx: CanvasRenderingContext2D, points: [number, number][], color: string, dots = false): void {
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.beginPath();
  points.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
  ctx.stroke();
  if (dots) for (const [px, py] of points) ctx.fillRect(px - 2.5, py - 2.5, 5, 5);
}

function legend(ctx: CanvasRenderingContext2D, left: number, top: number): void {
  ctx.textAlign = 'left';
  [['train loss', COLORS.loss], ['train accuracy', COLORS.train], ['validation accuracy', COLORS.val]].forEach(([label, color], i) => {
    ctx.fillStyle = color;
    ctx.fillRect(left, top + i * 14 - 8, 10, 10);
    ctx.fillText(label, left + 14, top + i * 14);
  });
}
