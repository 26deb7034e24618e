// The resource side of a running agent, put together: the store (persisted in the data directory, fed
// by the resources directory and Kuma's REST paths), RBAC in front of every write, user tokens, and the
// controller that turns the selected OPAPolicy into what the agent enforces.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Agent } from '../agent.js';
import { SettingsError, type Settings } from '../config/settings.js';
import type { Logger } from '../log.js';
import { authorize, DEFAULT_BINDING, DEFAULT_ROLE, mayRead, validateAccessRole, validateAccessRoleBinding, type Action } from '../rbac/model.js';
import { authenticate } from '../rbac/identity.js';
import { tokenRoutes } from '../rbac/http.js';
import { revokedList, UserTokens } from '../rbac/tokens.js';
import type { Route } from '../server/http.js';
import { ResourceController, type OpaPolicyStatus } from './controller.js';
import { watchResourcesDir, type DirectoryWatch } from './directory.js';
import { resourceRoutes } from './http.js';
import { validateOpaPolicy, validateSecret } from './opapolicy.js';
import { identityFromDataplane, identityFromTags, type DataplaneIdentity } from './selection.js';
import { ResourceStore, type KindDef } from './store.js';
import { RESOURCE_KINDS, ValidationError, type AccessDecision, type Resource, type ResourceKind, type User } from './types.js';

const VALIDATORS: Record<string, (r: Resource) => ReturnType<KindDef['validate']>> = {
  OPAPolicy: validateOpaPolicy,
  Secret: validateSecret,
  GlobalSecret: validateSecret,
  AccessRole: validateAccessRole,
  AccessRoleBinding: validateAccessRoleBinding,
};

const KINDS: KindDef[] = RESOURCE_KINDS.map((k: ResourceKind) => ({ ...k, validate: VALIDATORS[k.type]! }));

/** The GlobalSecret listing revoked user-token ids (comma-separated, base64), as Kuma keeps it. */
const REVOCATIONS = 'user-token-revocations';

export interface ResourcesRuntime {
  routes: Route[];
  status(): OpaPolicyStatus | undefined;
  identity: DataplaneIdentity | undefined;
  close(): Promise<void>;
}

export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_STATE_HOME || (homedir() ? join(homedir(), '.local', 'state') : tmpdir());
  return join(base, 'kmesh-opa');
}

/** This data plane's identity from --dataplane-file or --dataplane-tags (not both); undefined when neither is given. */
export async function dataplaneIdentity(settings: Settings): Promise<DataplaneIdentity | undefined> {
  if (settings.dataplaneFile && settings.dataplaneTags) throw new Error('give either --dataplane-file or --dataplane-tags, not both');
  if (settings.dataplaneTags) return identityFromTags(settings.dataplaneMesh, settings.dataplaneTags);
  if (!settings.dataplaneFile) return undefined;
  const text = await readFile(settings.dataplaneFile, 'utf8');
  const doc = parseYaml(text) as unknown;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${settings.dataplaneFile}: not a Dataplane resource`);
  try {
    return identityFromDataplane(doc as Resource);
  } catch (err) {
    if (err instanceof ValidationError) throw new Error(`${settings.dataplaneFile}: invalid Dataplane: ${err.message}`);
    throw err;
  }
}

/**
 * `fallbackDataDir` is used when no data directory is configured (the CLI passes defaultDataDir()); without
 * either, as Kuma's default memory store, API-written resources and the token key last for this run only.
 */
export async function startResources(agent: Agent, fallbackDataDir: string | undefined, log: Logger): Promise<ResourcesRuntime> {
  const settings = agent.settings;
  const identity = await asSettingError(settings.dataplaneFile ? 'dataplane-file' : 'dataplane-tags', () => dataplaneIdentity(settings));
  if (!identity) log.warn('no data plane identity (--dataplane-tags or --dataplane-file): only OPAPolicies whose selectors are all wildcards apply');
  const configuredDir = settings.dataDir ?? fallbackDataDir;
  const dataDir = configuredDir ?? (await mkdtemp(join(tmpdir(), 'kmesh-opa-run-')));
  if (!configuredDir) log.info('no data directory: the user-token key and resources written through the API last for this run only', { dir: dataDir });
  const removeRunDir = async (): Promise<void> => {
    if (!configuredDir) await rm(dataDir, { recursive: true, force: true });
  };
  let dir: DirectoryWatch | undefined;
  let unsubscribe = (): void => undefined;
  try {
    const controller = new ResourceController(agent, identity, log);
    const { store, tokens } = await asSettingError('data-dir', async () => {
      const opened = await ResourceStore.open({ kinds: KINDS, admit: controller.admit, ...(configuredDir ? { persistFile: join(dataDir, 'resources.json') } : {}), log });
      await createDefaults(opened);
      return { store: opened, tokens: await UserTokens.open(dataDir, { log }) };
    });
    const revoked = (jti: string) => revokedList(store.get('GlobalSecret', undefined, REVOCATIONS)?.resource).has(jti);
    const authn = (req: Parameters<typeof authenticate>[0]) => authenticate(req, { localhostIsAdmin: settings.apiAuthnLocalhostIsAdmin, tokens, revoked });
    const authz = (user: User, action: Action): AccessDecision => {
      const decision = authorize(user, action, listed(store, 'AccessRole'), listed(store, 'AccessRoleBinding'));
      if (!decision.allowed) log.warn('access denied', { user: user.name, groups: user.groups, access: action.access, ...('type' in action ? { type: action.type, mesh: action.mesh, name: action.name } : {}) });
      return decision;
    };
    const readable = (user: User, type: string, name: string, mesh: string | undefined): boolean =>
      mayRead(user, { type, name, mesh }, listed(store, 'AccessRole'), listed(store, 'AccessRoleBinding'));
    unsubscribe = store.onChange(() => void controller.reconcile(store));
    const resourcesDir = settings.resourcesDir;
    dir = resourcesDir ? await asSettingError('resources-dir', () => watchResourcesDir(resourcesDir, store, log)) : undefined;
    await controller.reconcile(store);
    return {
      routes: [...tokenRoutes({ tokens, authenticate: authn, authorize: authz, log }), ...resourceRoutes({ store, authenticate: authn, authorize: authz, readable, log })],
      status: () => controller.status,
      identity,
      async close() {
        unsubscribe();
        await dir?.close();
        await removeRunDir();
      },
    };
  } catch (err) {
    // The agent does not start: nothing may keep watching the directory or leave this run's directory behind.
    unsubscribe();
    await dir?.close();
    await removeRunDir();
    throw err;
  }
}

/** A start-up step that only bad settings can fail: its error names the setting, in one line (no stack). */
async function asSettingError<T>(setting: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof SettingsError) throw err;
    throw new SettingsError(`cannot use ${setting}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Kuma's standalone defaults, created when absent (and kept, persisted, once changed). */
async function createDefaults(store: ResourceStore): Promise<void> {
  for (const resource of [DEFAULT_ROLE, DEFAULT_BINDING]) {
    if (!store.get(resource.type, undefined, resource.name)) await store.put(resource, 'default');
  }
}

function listed(store: ResourceStore, type: 'AccessRole' | 'AccessRoleBinding'): Resource[] {
  return store.list(type).map((s) => s.resource);
}
