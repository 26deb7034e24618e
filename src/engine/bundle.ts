// Reads the bundles `opa build -t wasm` writes: a gzipped tar holding `.manifest`, `policy.wasm` and
// `data.json` files (entry names with or without a leading `/`). A bare `.wasm` module is accepted too.
import { constants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

/** The bundle unpacks to more than it was allowed to. */
export class BundleTooLargeError extends BundleError {
  constructor(readonly limit: number) {
    super(`bundle unpacks to more than ${limit} bytes`);
  }
}

export interface WasmBundle {
  /** The compiled policy module. */
  wasm: Uint8Array;
  /** The data document: every data.json merged at its directory's path. */
  data: Record<string, unknown>;
  /** The parsed .manifest, {} when the bundle has none. */
  manifest: BundleManifest;
}

export interface BundleManifest {
  revision?: string;
  roots?: string[];
  rego_version?: number;
  wasm?: { entrypoint: string; module: string }[];
  metadata?: Record<string, unknown>;
}

const TAR_BLOCK = 512;

/** Extracts regular files from a tar archive (ustar, with GNU and pax long names). */
export function readTar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const buf = Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength);
  let offset = 0;
  let longName: string | undefined;
  while (offset + TAR_BLOCK <= buf.length) {
    const header = buf.subarray(offset, offset + TAR_BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    if (!checksumOk(header)) throw new BundleError(`corrupt tar header at byte ${offset}`);
    const size = parseOctal(header.subarray(124, 136), offset);
    const type = String.fromCharCode(header[156] ?? 0);
    const dataStart = offset + TAR_BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length) throw new BundleError(`truncated tar: entry at byte ${offset} needs ${size} bytes`);
    const body = buf.subarray(dataStart, dataEnd);
    const name = longName ?? headerName(header);
    longName = undefined;
    if (type === 'L') {
      longName = cString(body);
    } else if (type === 'x') {
      longName = paxPath(body);
    } else if (type === '0' || type === '\0' || type === '7') {
      files.set(normalizeEntry(name), new Uint8Array(body));
    }
    offset = dataStart + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
  }
  return files;
}

function checksumOk(header: Buffer): boolean {
  const stored = parseInt(cString(header.subarray(148, 156)).trim() || '0', 8);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
  return sum === stored;
}

function parseOctal(field: Buffer, at: number): number {
  const text = cString(field).trim();
  const n = text === '' ? 0 : parseInt(text, 8);
  if (!Number.isFinite(n) || n < 0) throw new BundleError(`corrupt tar size field at byte ${at}`);
  return n;
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end === -1 ? b.length : end);
}

function headerName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const prefix = cString(header.subarray(345, 500));
  return header.toString('latin1', 257, 262) === 'ustar' && prefix ? `${prefix}/${name}` : name;
}

function paxPath(body: Buffer): string | undefined {
  for (const record of body.toString('utf8').split('\n')) {
    const m = /^\d+ path=(.*)$/.exec(record);
    if (m) return m[1];
  }
  return undefined;
}

/** Bundle paths are compared without leading `/` or `./`. */
function normalizeEntry(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '');
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function isWasm(bytes: Uint8Array): boolean {
  return bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}

/**
 * A gzipped bundle's files. `maxBytes` bounds what it unpacks to, since a small gzip from a server or a
 * Secret can expand without limit; the gzip error, when there is one, is the BundleError's `cause`.
 */
export function unpackBundleFiles(gz: Uint8Array, maxBytes: number = constants.MAX_LENGTH): Map<string, Uint8Array> {
  let tar: Uint8Array;
  try {
    tar = gunzipSync(gz, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new BundleTooLargeError(maxBytes);
    throw new BundleError(`bundle is not valid gzip: ${(err as Error).message}`, { cause: err });
  }
  return readTar(tar);
}

/** Parses a gzipped bundle built by `opa build -t wasm`. */
export function readWasmBundle(gz: Uint8Array): WasmBundle {
  return wasmBundleOf(unpackBundleFiles(gz));
}

/** The module, data and manifest of a bundle's files (see readWasmBundle). */
export function wasmBundleOf(files: ReadonlyMap<string, Uint8Array>): WasmBundle {
  const manifest = bundleManifest(files);
  const wasmPath = manifest.wasm?.[0]?.module?.replace(/^\/+/, '') ?? 'policy.wasm';
  const wasm = files.get(wasmPath) ?? files.get('policy.wasm');
  if (!wasm) {
    throw new BundleError(`bundle has no ${wasmPath}: build it with "opa build -t wasm" (entries: ${[...files.keys()].join(', ') || 'none'})`);
  }
  if (!isWasm(wasm)) throw new BundleError(`${wasmPath} in the bundle is not a WebAssembly module`);
  return { wasm, data: mergeDataFiles(files), manifest };
}

/** The bundle's parsed .manifest, {} when it has none. */
export function bundleManifest(files: ReadonlyMap<string, Uint8Array>): BundleManifest {
  const bytes = files.get('.manifest');
  if (!bytes) return {};
  const value = parseJsonFile(bytes, '.manifest');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BundleError('.manifest is not a JSON object');
  }
  return value as BundleManifest;
}

function parseJsonFile(bytes: Uint8Array, name: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new BundleError(`${name} in the bundle is not valid JSON: ${(err as Error).message}`);
  }
}

/** data.json at dir/a/b/ lands at data.a.b, as OPA loads bundles. */
/** Every data.json of a bundle at its directory's path, merged; a conflict is a BundleError. */
export function mergeDataFiles(files: ReadonlyMap<string, Uint8Array>): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  const paths = [...files.keys()].filter((p) => p === 'data.json' || p.endsWith('/data.json')).sort();
  for (const path of paths) {
    const value = parseJsonFile(files.get(path)!, path);
    const segments = path.split('/').slice(0, -1);
    if (segments.length === 0) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new BundleError('data.json at the bundle root must be a JSON object');
      }
      deepMerge(data, value as Record<string, unknown>, path);
    } else {
      let node = data;
      for (const seg of segments.slice(0, -1)) node = child(node, seg, path);
      const last = segments[segments.length - 1]!;
      const existing = node[last];
      if (isPlainObject(existing) && isPlainObject(value)) deepMerge(existing, value, path);
      else if (existing === undefined) node[last] = value;
      else throw new BundleError(`${path} conflicts with data already at ${segments.join('.')}`);
    }
  }
  return data;
}

function child(node: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const existing = node[key];
  if (existing === undefined) {
    const fresh: Record<string, unknown> = {};
    node[key] = fresh;
    return fresh;
  }
  if (!isPlainObject(existing)) throw new BundleError(`${path} conflicts with a non-object at ${key}`);
  return existing;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>, path: string): void {
  for (const [k, v] of Object.entries(source)) {
    const existing = target[k];
    if (isPlainObject(existing) && isPlainObject(v)) deepMerge(existing, v, path);
    else if (existing === undefined) target[k] = v;
    else throw new BundleError(`${path} conflicts with data already at ${k}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
