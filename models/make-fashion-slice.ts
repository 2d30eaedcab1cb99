/**
 * The Fashion-MNIST slice the browser page bundles (web/data/): the first N training and M test
 * images and labels of Debian's dataset-fashion-mnist, as gzipped IDX files like the originals.
 * usage: node dist/models/make-fashion-slice.js [--train 6000] [--test 1000] [--from DIR] [--to DIR]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const from = flag('--from', '/usr/share/datasets/fashion-mnist');
const to = flag('--to', path.join(__dirname, '..', '..', 'web', 'data'));
const counts = { train: Number(flag('--train', '6000')), t10k: Number(flag('--test', '1000')) };

/** The first `rows` items of a gzipped IDX file, header rewritten to say so. */
function sliceIdx(bytes: Buffer, rows: number): Buffer {
  const rank = bytes[3];
  const header = Buffer.from(bytes.subarray(0, 4 + 4 * rank));
  const total = header.readUInt32BE(4);
  if (rows > total) throw new Error(`asked for ${rows} rows, the file has ${total}`);
  header.writeUInt32BE(rows, 4);
  let rowBytes = 1;
  for (let axis = 1; axis < rank; axis++) rowBytes *= header.readUInt32BE(4 + 4 * axis);
  return Buffer.concat([header, bytes.subarray(header.length, header.length + rows * rowBytes)]);
}

fs.mkdirSync(to, { recursive: true });
for (const [set, rows] of Object.entries(counts)) {
  for (const kind of ['images-idx3', 'labels-idx1']) {
    const name = `${set}-${kind}-ubyte.gz`;
    const sliced = sliceIdx(zlib.gunzipSync(fs.readFileSync(path.join(from, name))), rows);
    // mtime 0 in the gzip header (zlib writes none): the same slice gives the same bytes
    fs.writeFileSync(path.join(to, name), zlib.gzipSync(sliced, { level: 9 }));
    console.log(`${path.join(to, name)}: ${rows} rows`);
  }
}
