/**
 * `wn-onnx serve`: the browser page (web/) over node:http, on 127.0.0.1 by default. Serves only
 * four folders, each under its own prefix; no listings, no path that escapes its folder (`..`,
 * encoded or not, and symlinks pointing out, by real path). The COOP/COEP headers make the page
 * cross-origin isolated, which onnxruntime-web's threaded wasm needs (SharedArrayBuffer).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { WnError } from '../errors';
import { log, print } from './options';

const root = path.join(__dirname, '..', '..', '..');

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream', '.gz': 'application/gzip', '.png': 'image/png', '.svg': 'image/svg+xml',
};

/** URL prefix → folder served under it ('' is the page itself). */
function servedFolders(): [string, string][] {
  // the package's main file lies in its dist/ (package.json is not among its exports)
  const ortDist = path.dirname(require.resolve('onnxruntime-web'));
  return [['ort/', ortDist], ['data/', path.join(root, 'web', 'data')], ['models/', path.join(root, 'models')], ['', path.join(root, 'web', 'dist')]];
}

/** The real file a URL path names inside its folder, or undefined (missing, a folder, or outside). */
export function resolveServed(urlPath: string, folders: [string, string][]): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.split(/[\\/]/).includes('..')) return undefined;
  const rel = decoded.replace(/^\/+/, '') || 'index.html';
  const [prefix, folder] = folders.find(([p]) => rel.startsWith(p))!;
  try {
    const base = fs.realpathSync(folder);
    const real = fs.realpathSync(path.join(base, rel.slice(prefix.length)));
    if (!real.startsWith(base + path.sep) || !fs.statSync(real).isFile()) return undefined;
    return real;
  } catch {
    return undefined;
  }
}

function handler(folders: [string, string][]): http.RequestListener {
  return (request, response) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache',
    };
    const file = request.method === 'GET' || request.method === 'HEAD'
      ? resolveServed(new URL(request.url ?? '/', 'http://localhost').pathname, folders) : undefined;
    if (!file) {
      response.writeHead(request.method === 'GET' || request.method === 'HEAD' ? 404 : 405, { ...headers, 'Content-Type': 'text/plain' });
      response.end('not found\n');
      return;
    }
    const size = fs.statSync(file).size;
    response.writeHead(200, { ...headers, 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
    if (request.method === 'HEAD') response.end();
    else fs.createReadStream(file).on('error', () => response.destroy()).pipe(response);
  };
}

/** The page is built on demand when web/dist/ has none (needs the devDependency esbuild). */
async function ensurePage(): Promise<void> {
  if (fs.existsSync(path.join(root, 'web', 'dist', 'index.html'))) return;
  log('building the page (web/dist/)…');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require(path.join(root, 'web', 'build.js')) as { buildPage(): Promise<string> }).buildPage();
  } catch (e) {
    throw new WnError(`cannot build the page: ${(e as Error).message.split('\n')[0]}; run \`npm install\` then \`npm run build:page\``);
  }
}

async function serve(flags: { port: number; host: string }): Promise<void> {
  await ensurePage();
  const server = http.createServer(handler(servedFolders()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new WnError(`port ${flags.port} on ${flags.host} is taken; pick another with --port N`)
      : new WnError(`cannot listen on ${flags.host}:${flags.port}: ${e.message}`)));
    server.listen(flags.port, flags.host, resolve);
  });
  const { port } = server.address() as { port: number };
  print(`wn-onnx page: http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${port}/`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function serveCommand(program: Command): void {
  program.command('serve')
    .description('serve the browser page (convert, init, train and fold in a tab; nothing leaves the machine)')
    .option('--port <n>', 'port (0: any free one)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port must be an integer from 0 to 65535, got "${v}"`);
      return n;
    }, 8080)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .action(serve);
}
