// The `decision_logs` section, validated and defaulted as OPA 1.19.1's decision log plugin does it.
import { pathUnescape } from '../authz/gocompat/url.js';
import { ConfigValueError, SectionReader } from '../services/config-values.js';

export class DecisionLogsConfigError extends ConfigValueError {
  override readonly name = 'DecisionLogsConfigError';
}

/** `size` buffers compressed chunks (limit in bytes, default unlimited); `event` buffers events (limit in events). */
export type BufferType = 'size' | 'event';
/** periodic: upload every min..max delay; immediate: also as soon as a chunk is full; manual: only on flush(). */
export type TriggerMode = 'periodic' | 'immediate' | 'manual';

export interface ReportingConfig {
  bufferType: BufferType;
  /** Size buffer: bytes of compressed chunks kept while uploads fail; 0 = unlimited. */
  bufferSizeLimitBytes: number;
  /** Event buffer: events (or re-queued chunks) kept; the oldest go first. */
  bufferSizeLimitEvents: number;
  /** Upper bound of one gzipped upload body (clamped to 90 B .. 4 GiB as OPA does). */
  uploadSizeLimitBytes: number;
  /** After a successful upload the next one waits a random time in [min, max]. */
  minDelaySeconds: number;
  maxDelaySeconds: number;
  /** Rate limit on events entering the upload buffer; excess events are dropped. */
  maxDecisionsPerSecond?: number;
  trigger: TriggerMode;
}

export interface DecisionLogsConfig {
  /** Write each event as a JSON line to the console. */
  console: boolean;
  /** Name of the service events are uploaded to; absent: no uploads. */
  service?: string;
  /** Upload path under the service URL: `/logs`, `/logs/<partition_name>`, or `resource`. */
  resource: string;
  partitionName?: string;
  reporting: ReportingConfig;
  /** Rule paths (slash-separated, no leading slash) whose results mask or drop events. */
  maskDecision: string;
  dropDecision: string;
  /** Settings OPA would ignore or that have no effect here, and limits that were clamped: worth a warning each. */
  warnings: string[];
}

const DEFAULT_MIN_DELAY_SECONDS = 300;
const DEFAULT_MAX_DELAY_SECONDS = 600;
const DEFAULT_BUFFER_SIZE_LIMIT_EVENTS = 10000;
const DEFAULT_UPLOAD_SIZE_LIMIT_BYTES = 32768;
// One event with a decision id (69 bytes) in an otherwise empty gzip file (21 bytes).
const MIN_UPLOAD_SIZE_LIMIT_BYTES = 90;
const MAX_UPLOAD_SIZE_LIMIT_BYTES = 4294967296;
const DEFAULT_MASK_DECISION = '/system/log/mask';
const DEFAULT_DROP_DECISION = '/system/log/drop';
const DEFAULT_RESOURCE = '/logs';
const BUFFER_TYPES: readonly BufferType[] = ['size', 'event'];
const TRIGGER_MODES: readonly TriggerMode[] = ['periodic', 'immediate', 'manual'];

/**
 * Parses the `decision_logs` section. `undefined` when decision logging is off: no section, or a
 * section that names neither the console nor a service while no service is configured. As in OPA,
 * a section without `service` (and without `console`) uploads to the first configured service.
 * Throws DecisionLogsConfigError naming the bad key and what is allowed.
 */
export function parseDecisionLogsConfig(doc: unknown, serviceNames: readonly string[]): DecisionLogsConfig | undefined {
  if (doc === undefined || doc === null) return undefined;
  try {
    return parseSection(SectionReader.of('decision_logs', doc), serviceNames);
  } catch (err) {
    if (err instanceof ConfigValueError && !(err instanceof DecisionLogsConfigError)) throw new DecisionLogsConfigError(err.message);
    throw err;
  }
}

function parseSection(r: SectionReader, serviceNames: readonly string[]): DecisionLogsConfig | undefined {
  const plugin = r.string('plugin');
  const consoleLogs = r.boolean('console') ?? false;
  let service = r.string('service') ?? '';
  if (plugin === undefined && service === '' && serviceNames.length === 0 && !consoleLogs) return undefined;
  // kmesh-opa has no decision log plugins to name.
  if (plugin !== undefined) throw new DecisionLogsConfigError(`invalid plugin name "${plugin}" in decision_logs (kmesh-opa has no decision log plugins)`);
  if (service === '' && !consoleLogs && serviceNames.length > 0) {
    service = serviceNames[0]!;
  } else if (service !== '' && !serviceNames.includes(service)) {
    const known = serviceNames.length > 0 ? serviceNames.map((s) => `"${s}"`).join(', ') : 'none are configured';
    throw new DecisionLogsConfigError(`invalid service name "${service}" in decision_logs (services: ${known})`);
  }

  const warnings: string[] = [];
  const reportingReader = r.child('reporting');
  const reporting = parseReporting(reportingReader, warnings);
  const partitionName = r.string('partition_name') || undefined;
  const resource = partitionName !== undefined ? `/logs/${partitionName}` : (r.string('resource') ?? DEFAULT_RESOURCE);
  if (partitionName === undefined) r.raw('resource');
  const maskDecision = dataPath(r, 'mask_decision', DEFAULT_MASK_DECISION);
  const dropDecision = dataPath(r, 'drop_decision', DEFAULT_DROP_DECISION);
  // OPA fills request_context from its own HTTP API, never for Envoy checks; accepted for portability.
  r.raw('request_context');
  if (r.boolean('nd_builtin_cache')) warnings.push('decision_logs.nd_builtin_cache is not supported by kmesh-opa: events carry no nd_builtin_cache');
  for (const key of [...r.unread(), ...reportingReader.unread()]) warnings.push(`unknown key ${key} ignored`);

  return {
    console: consoleLogs,
    ...(service !== '' ? { service } : {}),
    resource,
    ...(partitionName !== undefined ? { partitionName } : {}),
    reporting,
    maskDecision,
    dropDecision,
    warnings,
  };
}

function parseReporting(r: SectionReader, warnings: string[]): ReportingConfig {
  const trigger = oneOf(r, 'trigger', TRIGGER_MODES) ?? 'periodic';
  const { min, max } = delays(r);
  const uploadSizeLimitBytes = uploadLimit(r, warnings);
  const bufferType = oneOf(r, 'buffer_type', BUFFER_TYPES) ?? 'size';
  const limitBytes = r.integer('buffer_size_limit_bytes');
  const limitEvents = r.integer('buffer_size_limit_events');
  const rate = r.number('max_decisions_per_second');
  if (bufferType === 'event' && limitBytes !== undefined) {
    throw new DecisionLogsConfigError(`${r.key('buffer_size_limit_bytes')} isn't supported for the event buffer type (use buffer_size_limit_events)`);
  }
  if (bufferType === 'size' && limitEvents !== undefined) {
    throw new DecisionLogsConfigError(`${r.key('buffer_size_limit_events')} isn't supported for the size buffer type (set buffer_type: event, or use buffer_size_limit_bytes)`);
  }
  if (limitBytes !== undefined && rate !== undefined) {
    throw new DecisionLogsConfigError(`${r.path}: specify either buffer_size_limit_bytes or max_decisions_per_second, not both`);
  }
  if (limitBytes !== undefined && limitBytes <= 0) throw new DecisionLogsConfigError(`${r.key('buffer_size_limit_bytes')} must be higher than 0, got ${limitBytes}`);
  if (limitEvents !== undefined && limitEvents <= 0) throw new DecisionLogsConfigError(`${r.key('buffer_size_limit_events')} must be higher than 0, got ${limitEvents}`);
  if (rate !== undefined && rate <= 0) throw new DecisionLogsConfigError(`${r.key('max_decisions_per_second')} must be higher than 0, got ${rate}`);
  return {
    bufferType,
    bufferSizeLimitBytes: limitBytes ?? 0,
    bufferSizeLimitEvents: limitEvents ?? DEFAULT_BUFFER_SIZE_LIMIT_EVENTS,
    uploadSizeLimitBytes,
    minDelaySeconds: min,
    maxDelaySeconds: max,
    ...(rate !== undefined ? { maxDecisionsPerSecond: rate } : {}),
    trigger,
  };
}

function delays(r: SectionReader): { min: number; max: number } {
  const min = r.integer('min_delay_seconds');
  const max = r.integer('max_delay_seconds');
  if (min === undefined && max === undefined) return { min: DEFAULT_MIN_DELAY_SECONDS, max: DEFAULT_MAX_DELAY_SECONDS };
  if (max === undefined) throw new DecisionLogsConfigError(`${r.path} has min_delay_seconds but is missing max_delay_seconds: set both or neither`);
  if (min === undefined) throw new DecisionLogsConfigError(`${r.path} has max_delay_seconds but is missing min_delay_seconds: set both or neither`);
  if (max < min) throw new DecisionLogsConfigError(`${r.key('max_delay_seconds')} (${max}) must be >= min_delay_seconds (${min})`);
  if (min < 0) throw new DecisionLogsConfigError(`${r.key('min_delay_seconds')} must be 0 or more, got ${min}`);
  return { min, max };
}

function uploadLimit(r: SectionReader, warnings: string[]): number {
  const configured = r.integer('upload_size_limit_bytes') ?? DEFAULT_UPLOAD_SIZE_LIMIT_BYTES;
  if (configured > MAX_UPLOAD_SIZE_LIMIT_BYTES) {
    warnings.push(`the configured upload_size_limit_bytes (${configured}) has been set to the maximum limit (${MAX_UPLOAD_SIZE_LIMIT_BYTES})`);
    return MAX_UPLOAD_SIZE_LIMIT_BYTES;
  }
  if (configured < MIN_UPLOAD_SIZE_LIMIT_BYTES) {
    warnings.push(`the configured upload_size_limit_bytes (${configured}) has been set to the minimum limit (${MIN_UPLOAD_SIZE_LIMIT_BYTES})`);
    return MIN_UPLOAD_SIZE_LIMIT_BYTES;
  }
  return configured;
}

function oneOf<T extends string>(r: SectionReader, name: string, allowed: readonly T[]): T | undefined {
  const v = r.string(name);
  if (v === undefined || v === '') return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new DecisionLogsConfigError(`${r.key(name)} is "${v}", expected one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return v as T;
}

/** OPA reads these as storage paths: a leading slash is optional and each segment is %-unescaped. */
function dataPath(r: SectionReader, name: string, fallback: string): string {
  const raw = r.string(name) ?? fallback;
  try {
    return raw.replace(/^\//, '').split('/').map(pathUnescape).join('/');
  } catch {
    throw new DecisionLogsConfigError(`invalid ${name} in decision_logs: invalid path ${JSON.stringify(raw)}`);
  }
}
