// A real nginx serving a directory of bundles on a loopback port, as an OPA bundle server made of
// static files would: ETags from nginx's own `etag on` (mtime and size), If-None-Match answered 304.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './tools.js';
import { freePort } from './peer.js';

export interface NginxServer {
  url: string;
  /** The directory served at the URL's root. */
  root: string;
  /**
   * Puts a file under the root. Its mtime is set past the previous one's, so nginx's ETag changes
   * even when two writes fall in the same second with the same size.
   */
  put(path: string, bytes: Uint8Array): void;
  /** nginx's error log, for failures. */
  errorLog(): string;
  stop(): Promise<void>;
}

/** The nginx binary; scripts/nginx.sh installs Debian's package when it is missing. */
export function nginxBinary(): string {
  return execFileSync('bash', [join(ROOT, 'scripts', 'nginx.sh')], { encoding: 'utf8' }).trim();
}

export async function startNginx(): Promise<NginxServer> {
  const binary = nginxBinary();
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-opa-nginx-'));
  const root = join(dir, 'www');
  mkdirSync(root);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, root, port));
  // master_process off: one process as the test user, reading the test's private directories.
  const child = spawn(binary, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(port, child, () => stderr);
  let mtime = Math.floor(Date.now() / 1000);
  return {
    url: `http://127.0.0.1:${port}`,
    root,
    put(path, bytes) {
      const file = join(root, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, bytes);
      mtime += 2;
      utimesSync(file, mtime, mtime);
    },
    errorLog: () => readFileSync(join(dir, 'error.log'), 'utf8'),
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function nginxConfig(dir: string, root: string, port: number): string {
  return `daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  types { application/gzip gz; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    etag on;
    location / { }
  }
}
`;
}


async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr()}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`nginx did not listen on 127.0.0.1:${port} in time: ${stderr()}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    // SIGQUIT is nginx's graceful shutdown.
    child.kill('SIGQUIT');
  });
}
