// The container image, checked without a container engine: the Dockerfile linter, and the Dockerfile's
// steps performed and its result started as an engine would (scripts/image-build-check.sh).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config/settings.js';
import { ROOT } from '../helpers/tools.js';

const SCRIPT = join(ROOT, 'scripts', 'image-build-check.sh');
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

function imageCheck(dockerfile?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const args = [SCRIPT];
  if (dockerfile !== undefined) {
    const path = join(mkdtempSync(join(tmpdir(), 'kmesh-opa-dockerfile-')), 'Dockerfile');
    writeFileSync(path, dockerfile);
    args.push(path);
  }
  return new Promise((resolve) => {
    const child = spawn('bash', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The Dockerfile with one line replaced; fails the test if the line is not there to replace. */
function edited(from: string, to: string): string {
  expect(DOCKERFILE).toContain(from);
  return DOCKERFILE.replace(from, to);
}

describe('container image', () => {
  it('lints clean, builds stage by stage, passes its HEALTHCHECK as a non-root user, answers a Check and stops with exit 0', async () => {
    const res = await imageCheck();
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    for (const line of [
      'dockerfile-utils lint: no problems',
      'go install github.com/open-policy-agent/opa@v1.19.1: opa v1.19.1 from scripts/install-tools.sh',
      'RUN npm ci --no-audit --no-fund',
      'runtime: production dependencies only',
      'HEALTHCHECK passes on the diagnostics port',
      'the agent runs as uid 65534',
      'Check over gRPC: the admin token is allowed (0), no token is denied (7)',
      'docker stop (SIGTERM): exit 0',
      'image-build-check: ok',
    ]) {
      expect(res.stdout).toContain(line);
    }
  }, 300_000);

  it('documents every KMESH_OPA_* (and KUMA_DATAPLANE_*) setting', () => {
    const missing = SETTINGS.flatMap((s) => (s.env === undefined || DOCKERFILE.includes(s.env) ? [] : [s.env]));
    expect(missing).toEqual([]);
  });

  it('bad input: an unknown instruction and an EXPOSE of a name are reported by the linter', async () => {
    const res = await imageCheck(edited('EXPOSE 9191 8181 8282', 'EXPOSE grpc\nFOO bar'));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('the Dockerfile linter found problems');
    expect(res.stderr).toContain('Error: Unknown instruction: FOO');
    expect(res.stderr).toContain('Error: Invalid containerPort: grpc');
  });

  it('bad input: a runtime stage left as root is refused before anything is built', async () => {
    const res = await imageCheck(edited('USER node\n', ''));
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe('image-build-check: the runtime stage must switch to a non-root USER');
    expect(res.stdout).not.toContain('RUN npm ci');
  });

  it('bad input: an opa version other than install-tools.sh pins, a port not exposed, a shell-form ENTRYPOINT', async () => {
    const pin = await imageCheck(edited('ARG OPA_VERSION=v1.19.1', 'ARG OPA_VERSION=v1.4.0'));
    expect(pin.stderr.trim()).toBe('image-build-check: the Dockerfile builds opa v1.4.0 but scripts/install-tools.sh pins v1.19.1: keep them equal');
    const port = await imageCheck(edited('EXPOSE 9191 8181 8282', 'EXPOSE 9191 8181'));
    expect(port.stderr.trim()).toBe('image-build-check: KMESH_OPA_DIAGNOSTIC_ADDR=0.0.0.0:8282 but port 8282 is not in EXPOSE 9191 8181');
    const shell = await imageCheck(edited('ENTRYPOINT ["node", "dist/cli/main.js"]', 'ENTRYPOINT node dist/cli/main.js'));
    expect(shell.stderr.trim()).toMatch(/^image-build-check: line \d+: ENTRYPOINT must use the exec \(JSON\) form, so that signals reach the agent$/);
    for (const res of [pin, port, shell]) expect(res.code).toBe(1);
  });
});
