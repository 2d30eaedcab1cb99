// Trains with a step graph from `wn-onnx export-train-step` and plain onnxruntime-node (no wn-onnx):
//   node plain-train-step.js step.onnx step.json images-idx3.gz labels-idx1.gz STEPS [BATCH] > trained.json
// (the batches in file order, raw pixels, as `wn-onnx train --no-shuffle`; prints the trained tensors as JSON)
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const ort = require('onnxruntime-node');

const [stepModel, contractFile, imagesFile, labelsFile, steps, batch = '100'] = process.argv.slice(2);
const contract = JSON.parse(fs.readFileSync(contractFile, 'utf8'));
const images = zlib.gunzipSync(fs.readFileSync(imagesFile)).subarray(16); // IDX: 16-byte header, then uint8 pixels
const labels = zlib.gunzipSync(fs.readFileSync(labelsFile)).subarray(8);
const [B, classes, { lr, beta1 = 0.9, beta2 = 0.999 }] = [Number(batch), contract.target.classes, contract.optimizer];
const scalar = { 'lr': () => lr, 'lr / (1 - beta1^t)': (t) => lr / (1 - beta1 ** t), 'beta1': () => beta1,
  '1 - beta1': () => 1 - beta1, 'sqrt(1 - beta2^t)': (t) => Math.sqrt(1 - beta2 ** t) };

(async () => {
  const session = await ort.InferenceSession.create(stepModel);
  const start = await ort.InferenceSession.create(path.join(path.dirname(stepModel), contract.start));
  let carried = await start.run({}); // parameters, optimizer state and running statistics as they start
  for (let t = 1; t <= Number(steps); t++) {
    const rows = [(t - 1) * B, t * B];
    const target = new Float32Array(B * classes);
    labels.subarray(...rows).forEach((label, i) => { target[i * classes + label] = 1; });
    const feeds = { ...carried,
      [contract.data[0]]: new ort.Tensor('float32', Float32Array.from(images.subarray(rows[0] * 784, rows[1] * 784)), [B, 1, 28, 28]),
      [contract.target.input]: new ort.Tensor('float32', target, [B, classes]) };
    for (const s of contract.scalars) feeds[s.input] = new ort.Tensor('float32', Float32Array.of(scalar[s.value](t)), []);
    const out = await session.run(feeds);
    process.stderr.write(`step ${t}: loss ${out[contract.loss].data[0]}\n`);
    carried = Object.fromEntries(contract.carried.map((c) => [c.input, out[c.output]]));
  }
  const trained = contract.carried.filter((c) => c.role !== 'optimizer state').map((c) => [c.input, Array.from(carried[c.input].data)]);
  process.stdout.write(JSON.stringify(Object.fromEntries(trained)));
})();
