// The control-planes file: kumactl's layout and messages (app/kumactl/cmd/config), owner-only permissions.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  addControlPlane,
  ctlConfigPath,
  CtlConfigError,
  currentControlPlane,
  loadCtlConfig,
  removeControlPlane,
  saveCtlConfig,
  switchControlPlane,
  type CtlConfig,
} from '../../../src/cli/ctl-config.js';

const tempPath = () => join(mkdtempSync(join(tmpdir(), 'kmesh-opa-ctl-')), 'nested', 'config.yaml');
const admin = { name: 'cp-admin', address: 'http://localhost:8181', authType: 'tokens', authConf: { token: 'T1' } };
const owner = { name: 'cp-owner', address: 'https://localhost:5682', skipVerify: true, authType: 'tokens', authConf: { token: 'T2' } };

describe('ctlConfigPath', () => {
  it('takes --config-file, then KMESH_OPA_CTL_CONFIG, then ~/.kmesh-opa/config.yaml', () => {
    expect(ctlConfigPath({ KMESH_OPA_CTL_CONFIG: '/e.yaml', HOME: '/h' }, '/f.yaml')).toBe('/f.yaml');
    expect(ctlConfigPath({ KMESH_OPA_CTL_CONFIG: '/e.yaml', HOME: '/h' })).toBe('/e.yaml');
    expect(ctlConfigPath({ HOME: '/h' })).toBe('/h/.kmesh-opa/config.yaml');
  });
});

describe('the control-planes file', () => {
  it('is empty when missing, and round-trips through a 0600 file in kumactl layout', async () => {
    const path = tempPath();
    expect(await loadCtlConfig(path)).toEqual({ controlPlanes: [] });
    const config = addControlPlane(addControlPlane({ controlPlanes: [] }, admin, false), owner, false);
    await saveCtlConfig(path, config);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await loadCtlConfig(path)).toEqual({ controlPlanes: [admin, owner], current: 'cp-owner' });
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('currentContext: cp-owner\n');
    expect(text).toContain('- coordinates:\n    apiServer:\n      authConf:\n        token: T1\n      authType: tokens\n      url: http://localhost:8181\n  name: cp-admin\n');
  });

  it('tightens an existing file that others could read (0644) to 0600 on save, leaving no temporary file', async () => {
    const path = tempPath();
    await saveCtlConfig(path, { controlPlanes: [] });
    chmodSync(path, 0o644);
    await saveCtlConfig(path, addControlPlane({ controlPlanes: [] }, admin, false));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dirname(path))).toEqual(['config.yaml']);
  });

  it("reads a kumactl config, following the current context to its control plane", async () => {
    const path = tempPath();
    await saveCtlConfig(path, { controlPlanes: [] });
    writeFileSync(path, 'contexts:\n- controlPlane: test2\n  name: ctx\ncontrolPlanes:\n- coordinates:\n    apiServer:\n      url: https://test2.internal:5681\n      headers:\n      - key: x-a\n        value: b\n  name: test2\ncurrentContext: ctx\n');
    const config = await loadCtlConfig(path);
    expect(currentControlPlane(config)).toEqual({ name: 'test2', address: 'https://test2.internal:5681', headers: { 'x-a': 'b' } });
  });

  it('refuses a file that is not a control-planes document (controlPlanes: 3), naming the file', async () => {
    const path = tempPath();
    await saveCtlConfig(path, { controlPlanes: [] });
    writeFileSync(path, 'controlPlanes: 3\n');
    await expect(loadCtlConfig(path)).rejects.toThrow(`Failed to parse configuration from file ${JSON.stringify(path)}: controlPlanes must be a list`);
  });
});

describe('control plane operations', () => {
  const both: CtlConfig = { controlPlanes: [admin, owner], current: 'cp-owner' };

  it('refuses to add a name twice without --overwrite, and replaces in place with it', () => {
    expect(() => addControlPlane(both, { ...admin, address: 'http://x:1' }, false)).toThrow('Control Plane with name "cp-admin" already exists. Use --overwrite to replace an existing one.');
    const replaced = addControlPlane(both, { ...admin, address: 'http://x:1' }, true);
    expect(replaced.controlPlanes.map((c) => c.address)).toEqual(['http://x:1', owner.address]);
    expect(replaced.current).toBe('cp-admin');
  });

  it('switches only to a known name (cp-nope refused)', () => {
    expect(switchControlPlane(both, 'cp-admin').current).toBe('cp-admin');
    expect(() => switchControlPlane(both, 'cp-nope')).toThrow(CtlConfigError);
    expect(() => switchControlPlane(both, 'cp-nope')).toThrow('there is no Control Plane with name "cp-nope"');
  });

  it('removing the current one makes the first left current, and the last leaves none', () => {
    const left = removeControlPlane(both, 'cp-owner');
    expect(left).toEqual({ controlPlanes: [admin], current: 'cp-admin' });
    expect(removeControlPlane(left, 'cp-admin')).toEqual({ controlPlanes: [], current: undefined });
    expect(() => removeControlPlane(left, 'cp-owner')).toThrow('there is no Control Plane with name "cp-owner"');
  });
});
