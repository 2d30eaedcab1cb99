/**
 * One forward pass, as a user's script does it: read the model file and an .npy batch, create an
 * ONNX Runtime session (CPU), run once. The baseline of bench/init.ts.
 *
 *   node dist/bench/forward.js MODEL DATA.npy
 */
import * as fs from 'node:fs';
import { assignInputs, batchRows, inputSpecs, inputTensor, loadModelFile, nodeRuntime, readSampleData, runModel } from '../src/node';

async function main(): Promise<void> {
  const [modelFile, dataFile] = process.argv.slice(2);
  const runtime = nodeRuntime();
  const { model } = loadModelFile(modelFile);
  const inputs = assignInputs(inputSpecs(model), [{ source: dataFile, arrays: readSampleData(fs.readFileSync(dataFile), dataFile) }]);
  const feeds = Object.fromEntries(inputs.map((input) => [input.spec.name, inputTensor(runtime, input, batchRows(input))]));
  await runModel(runtime, model, feeds);
}

main().catch((e) => {
  process.stderr.write(`forward: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
