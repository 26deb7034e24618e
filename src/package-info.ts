// Facts about the installed package, found relative to this file (dist/ or src/ alike).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The embedded default policy: the JWT example of Kong Mesh's OPAPolicy page (Rego v0). */
export const DEFAULT_POLICY = join(PACKAGE_ROOT, 'policies', 'default.rego');

export const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
