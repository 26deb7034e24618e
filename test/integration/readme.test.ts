// README's examples are run as written (only the port is swapped for a free one), so they stay true.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startAgent, type AgentProcess } from '../helpers/tools.js';

function readmeBlockAfter(marker: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(marker);
  expect(at, `README has "${marker}"`).toBeGreaterThan(-1);
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(m, `a sh block follows "${marker}"`).not.toBeNull();
  return m![1]!;
}

describe('README examples', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgent([]); // the embedded default policy, as `npm start` runs it
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it('the grpcurl calls get an allow with ADMIN_TOKEN and a deny without it', () => {
    const script = readmeBlockAfter('Ask it with `grpcurl`').replaceAll('localhost:9191', agent.address);
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, encoding: 'utf8' });
    const replies = out.split(/\n(?=\{)/).map((j) => JSON.parse(j) as { status: { code?: number } });
    expect(replies).toHaveLength(2);
    expect(replies[0]!.status.code ?? 0).toBe(0);
    expect(replies[1]!.status.code).toBe(7);
  });
});
