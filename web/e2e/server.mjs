// Starts the server the end-to-end suite talks to, and stops it afterwards.
//
//   TT_URL=http://127.0.0.1:8765   use a server that is already running
//   TT_BIN=path/to/tensor-trace     the binary (default: ../target/release, then ../target/debug)
//   TT_PORT=8799                    port for the spawned server (default: 0 = any free port,
//                                   read back from the URL the server prints)
//   TT_MOCK=1                       development only: `vite preview --mode mock` instead of the
//                                   binary (the mock API; not a substitute for the real suite)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = resolve(WEB, '..');

export function binaryPath() {
  if (process.env.TT_BIN) return resolve(process.env.TT_BIN);
  for (const p of ['target/release/tensor-trace', 'target/debug/tensor-trace']) {
    const full = join(ROOT, p);
    if (existsSync(full)) return full;
  }
  return null;
}

/** The SmolLM2 model of the test data cache (scripts/fetch-test-data). */
export function smollm2Path() {
  const data = process.env.TENSOR_TRACE_DATA ?? join(process.env.HOME ?? '/root', '.cache/tensor-trace');
  return join(data, 'smollm2/SmolLM2-135M-Instruct.Q4_1.gguf');
}

/**
 * Starts a server (`extraArgs` go after `serve`, e.g. a model path) and resolves to
 * `{ url, stop() }` once it answers /api/presets.
 */
export async function startServer(extraArgs = []) {
  if (process.env.TT_URL && extraArgs.length === 0) return { url: process.env.TT_URL.replace(/\/$/, ''), stop: async () => {} };
  const port = process.env.TT_PORT ?? '0';
  let cmd;
  let args;
  if (process.env.TT_MOCK === '1') {
    const p = port === '0' ? String(4300 + Math.floor(Math.random() * 500)) : port;
    cmd = join(WEB, 'node_modules/.bin/vite');
    args = ['preview', '--mode', 'mock', '--bypass-lock', '--strictPort', '--host', '127.0.0.1', '--port', p];
  } else {
    const bin = binaryPath();
    if (!bin || !existsSync(bin))
      throw new Error(
        `no tensor-trace binary (looked at ${bin ?? 'target/{release,debug}/tensor-trace'}): build it with ` +
          '`cd web && npm run build && cd .. && cargo build --release -p tensor-trace`, or set TT_BIN',
      );
    cmd = bin;
    args = ['serve', ...extraArgs, '--no-open', '--port', port];
  }
  const child = spawn(cmd, args, { cwd: WEB, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print its URL within 120 s:\n${out}`)), 120_000);
    const scan = (chunk) => {
      out += chunk.toString();
      const m = /(http:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):\d+)/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''));
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1]);
      }
    };
    child.stdout.on('data', scan);
    child.stderr.on('data', scan);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${out}`));
    });
  });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${url}/api/presets`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    log: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
