// @ts-check
// Puts a workload on disk as both servers take it: the request for ghz (protojson), the data document,
// and the WASM bundle that `opa build -t wasm` makes of the very .rego the Go plugin reads.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** @typedef {import('./workloads.mjs').Workload} Workload */

/**
 * @typedef {object} Prepared
 * @property {Workload} workload
 * @property {string} requestFile protojson CheckRequest for ghz -D
 * @property {string | undefined} dataFile data.json, loaded at the root of `data` by both servers
 * @property {string} bundle the .tar.gz from `opa build -t wasm -e envoy/authz/allow`
 */

/**
 * @param {Workload} w
 * @param {string} dir created if missing
 * @param {string} opa the opa binary
 * @returns {Promise<Prepared>}
 */
export async function prepareWorkload(w, dir, opa) {
  await mkdir(dir, { recursive: true });
  const requestFile = join(dir, 'request.json');
  await writeFile(requestFile, JSON.stringify(w.request));
  const dataFile = w.data ? join(dir, 'data.json') : undefined;
  if (dataFile) await writeFile(dataFile, JSON.stringify(w.data));
  const bundle = join(dir, 'bundle.tar.gz');
  const v0 = w.regoVersion === 'v0' ? ['--v0-compatible'] : [];
  const args = ['build', '-t', 'wasm', '-e', 'envoy/authz/allow', ...v0, '-o', bundle, w.regoFile, ...(dataFile ? [dataFile] : [])];
  await exec(opa, args).catch((/** @type {{ stderr?: string }} */ err) => {
    throw new Error(`opa ${args.join(' ')} failed:\n${err.stderr ?? String(err)}`);
  });
  return { workload: w, requestFile, dataFile, bundle };
}
