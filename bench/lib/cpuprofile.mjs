// @ts-check
// Reads a V8 .cpuprofile (node --cpu-prof) and says where the busy time went: the hottest functions by
// self time, and the same time grouped by source file (grpc-js, http2, the WASM module, the agent).
import { readFile } from 'node:fs/promises';
import { PROJECT_ROOT } from './envoy.mjs';

/**
 * @typedef {object} ProfileNode
 * @property {number} id
 * @property {{ functionName: string, url: string, lineNumber: number }} callFrame
 * @property {number[]} [children]
 */

/**
 * Where a sample's time belongs: the innermost frame on its stack with a script of its own decides
 * (Node's internals and native code count for whoever called them); a stack of nothing but Node
 * internals is the HTTP/2 and socket machinery that runs on its own.
 * @type {[string, (url: string) => boolean][]}
 */
const AREAS = [
  ['policy evaluation (WASM, opa-wasm SDK, host builtins, JSON in and out)', (url) => url.startsWith('wasm://') || url.includes('@open-policy-agent/opa-wasm') || url.includes('/dist/engine/')],
  ['request decoding, input, response, encoding (dist/authz)', (url) => url.includes('/dist/authz/')],
  ['metrics (prom-client)', (url) => url.includes('/prom-client/')],
  ['gRPC server (grpc-js)', (url) => url.includes('/@grpc/grpc-js/')],
  ['the agent\'s other code (dist)', (url) => url.includes('/dist/')],
];
const RUNTIME_AREAS = new Set(['(garbage collector)', '(program)']);
const NODE_IO = 'Node HTTP/2, sockets and event loop (no caller above)';
const OTHER = 'other libraries (mostly start-up: protobufjs, proto-loader)';

/** @param {string} url */
const isRuntime = (url) => url === '' || url.startsWith('node:');

/**
 * @typedef {object} ProfileSummary
 * @property {number} busyMs sampled time outside "(idle)"
 * @property {{ name: string, where: string, selfMs: number, percent: number }[]} functions
 * @property {{ file: string, selfMs: number, percent: number }[]} files
 * @property {{ area: string, ms: number, percent: number }[]} areas
 */

/** @param {string} url */
function shortUrl(url) {
  if (url === '') return '(native)';
  return url.replace(`file://${PROJECT_ROOT}/`, '').replace(/^.*node_modules\//, '');
}

/**
 * @param {string} file
 * @param {number} limit
 * @returns {Promise<ProfileSummary>}
 */
export async function summarizeProfile(file, limit = 15) {
  /** @type {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[] }} */
  const profile = JSON.parse(await readFile(file, 'utf8'));
  /** @type {Map<number, ProfileNode>} */
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, ProfileNode>} */
  const parentOf = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n);
  /** @type {Map<number, string>} */
  const areaCache = new Map();
  const areaOf = (/** @type {ProfileNode} */ leaf) => {
    const cached = areaCache.get(leaf.id);
    if (cached) return cached;
    let area = RUNTIME_AREAS.has(leaf.callFrame.functionName) ? leaf.callFrame.functionName : NODE_IO;
    for (let n = /** @type {ProfileNode | undefined} */ (leaf); n && area === NODE_IO; n = parentOf.get(n.id)) {
      const url = n.callFrame.url;
      if (isRuntime(url)) continue;
      area = AREAS.find(([, match]) => match(url))?.[0] ?? OTHER;
    }
    areaCache.set(leaf.id, area);
    return area;
  };
  /** @type {Map<string, number>} */
  const areas = new Map();
  /** @type {Map<string, { name: string, where: string, us: number }>} */
  const functions = new Map();
  /** @type {Map<string, number>} */
  const files = new Map();
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (!node || node.callFrame.functionName === '(idle)') return;
    busyUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`;
    const key = `${functionName}@${where}`;
    const entry = functions.get(key) ?? { name: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const fileKey = url === '' ? functionName : shortUrl(url);
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
    const area = areaOf(node);
    areas.set(area, (areas.get(area) ?? 0) + us);
  });
  const percent = (/** @type {number} */ us) => (busyUs === 0 ? 0 : (100 * us) / busyUs);
  return {
    busyMs: busyUs / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, limit)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, percent: percent(f.us) })),
    files: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([f, us]) => ({ file: f, selfMs: us / 1000, percent: percent(us) })),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, ms: us / 1000, percent: percent(us) })),
  };
}
