// Start-up configuration in two steps: flags and environment say where the OPA config file is and which
// overrides apply; the resulting OPA document then feeds the settings it can set (below flags and
// environment) and keeps the sections other parts read (decision_logs, labels, services, bundles, ...).
import { applyOverrides, ConfigError, loadConfigFile, parseOverrides, type ConfigDoc } from './opa-config.js';
import { resolveSettings, SettingsError, type Origin, type ResolvedSettings, type SettingOptions } from './settings.js';

export interface LoadedConfig extends ResolvedSettings {
  /** The effective OPA configuration document (file, then overrides). */
  opaConfig: ConfigDoc;
}

/** `options` are a library caller's settings, above flags (see resolveSettings). */
export async function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, options?: SettingOptions): Promise<LoadedConfig> {
  const first = resolveSettings(argv, env, undefined, options);
  const { configPath, configOverrides } = first.settings;
  let doc: ConfigDoc = configPath ? await loadConfigFile(configPath, env) : {};
  const origin = configPath ? `config file ${configPath}` : 'the OPA configuration';
  const overridden = new Map<string, string>();
  for (const text of configOverrides) {
    try {
      const overrides = parseOverrides(text);
      doc = applyOverrides(doc, overrides);
      for (const o of overrides) overridden.set(o.path.join('.'), o.text);
    } catch (err) {
      if (err instanceof ConfigError) {
        const from = OVERRIDES_SOURCE[first.origins.configOverrides];
        throw new SettingsError(`invalid opa-set from ${from}: ${err.message}`);
      }
      throw err;
    }
  }
  validateSections(doc, origin);
  const originOf = (key: readonly string[]) => {
    const pair = overridden.get(key.join('.'));
    return pair !== undefined ? `override ${JSON.stringify(pair.trim())}` : `${origin} key ${key.join('.')}`;
  };
  const resolved = resolveSettings(argv, env, { doc, originOf }, options);
  return { ...resolved, opaConfig: doc };
}

const OVERRIDES_SOURCE: Record<Origin, string> = {
  flag: 'flag --opa-set',
  environment: 'environment variable KMESH_OPA_CONFIG_OVERRIDES',
  option: 'option configOverrides',
  config: 'the OPA configuration',
  default: 'the default overrides',
};

/** Sections later parts of the agent read must at least have the right shape now. */
function validateSections(doc: ConfigDoc, origin: string): void {
  const objectOrAbsent = (key: string) => {
    const v = doc[key];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) {
      throw new SettingsError(`invalid ${key} in ${origin}: must be a mapping`);
    }
  };
  for (const key of ['plugins', 'labels', 'bundles', 'discovery', 'status', 'decision_logs', 'keys']) objectOrAbsent(key);
  const services = doc.services;
  if (services !== undefined && services !== null && typeof services !== 'object') {
    throw new SettingsError(`invalid services in ${origin}: must be a mapping of name to service, or a list of services with names`);
  }
  const labels = doc.labels as Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (typeof v !== 'string') throw new SettingsError(`invalid labels.${k} in ${origin}: label values must be strings`);
  }
}
