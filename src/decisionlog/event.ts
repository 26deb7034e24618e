// One decision as OPA's decision log event (EventV1), and its two written forms: the upload form
// (struct field order, as Go marshals the struct) and the console line (logrus' JSON formatter:
// every key sorted, plus level, msg, time and type).
import type { DecisionRecord } from '../authz/check.js';
import { goJson } from './gojson.js';

/** What log() keeps of a decision until the worker turns it into an event. */
export interface PendingDecision {
  record: DecisionRecord;
  /** Unix time in nanoseconds when the decision was logged. */
  timestampNs: bigint;
  /** Name the active policy's bundle is known by, if it came from a bundle. */
  bundleName: string | undefined;
}

/** The fields of one event. `undefined` leaves a field out; `null` input is logged as null, as OPA does. */
export interface DecisionEvent {
  labels: Readonly<Record<string, string>>;
  decision_id: string;
  bundles?: Record<string, { revision?: string }>;
  path?: string;
  query?: string;
  input?: unknown;
  result?: unknown;
  erased?: string[];
  masked?: string[];
  error?: { message: string };
  timestamp: string;
  metrics?: Record<string, number>;
}

export interface EventContext {
  labels: Readonly<Record<string, string>>;
  /** The decision path as configured (plugins.envoy_ext_authz_grpc.path), or */
  path?: string;
  /** the deprecated query, when that is what is configured. */
  query?: string;
}

// EventV1's field order, for uploads.
const UPLOAD_FIELDS = ['labels', 'decision_id', 'bundles', 'path', 'query', 'input', 'result', 'erased', 'masked', 'error', 'timestamp', 'metrics'] as const;
type EventField = (typeof UPLOAD_FIELDS)[number];
// The console line's keys: the event's and logrus' own, all in sorted order.
const CONSOLE_FIELDS = ['bundles', 'decision_id', 'erased', 'error', 'input', 'labels', 'level', 'masked', 'metrics', 'msg', 'path', 'query', 'result', 'time', 'timestamp', 'type'] as const;
const CONSOLE_CONSTANTS: Readonly<Record<string, string>> = {
  level: JSON.stringify('info'),
  msg: JSON.stringify('Decision Log'),
  type: JSON.stringify('openpolicyagent.org/decision_logs'),
};

/** An event's fields as Go JSON text, encoded once for both written forms. */
export interface EncodedEvent {
  fields: ReadonlyMap<EventField, string>;
  /** The console shows the error as its message (Go's err.Error()); uploads as an object. */
  consoleError: string | undefined;
}

/**
 * The event as the mask and drop policies see it: without metrics and error, which OPA adds after
 * evaluating them.
 */
export function baseEvent(p: PendingDecision, ctx: EventContext): DecisionEvent {
  const { record } = p;
  const event: DecisionEvent = {
    labels: ctx.labels,
    decision_id: record.decisionId,
    timestamp: formatTimestamp(p.timestampNs),
  };
  if (p.bundleName !== undefined) event.bundles = { [p.bundleName]: record.revision ? { revision: record.revision } : {} };
  if (record.path !== undefined) {
    // A REST API decision: its own path, and a plain input (the AST quirk is the envoy plugin's).
    event.path = record.path;
    event.input = record.input === undefined ? null : record.input;
  } else {
    if (ctx.path) event.path = ctx.path;
    if (ctx.query) event.query = ctx.query;
    event.input = record.input === undefined ? null : withGoVersion(record.input);
  }
  if (!record.error) event.result = record.result;
  return event;
}

/** Adds what OPA adds after the drop decision: the timer metrics and the error. */
export function completeEvent(event: DecisionEvent, record: DecisionRecord): void {
  event.metrics = { timer_server_handler_ns: Math.round(record.durationSeconds * 1e9) };
  if (record.error) event.error = { message: record.error.message };
}

export function encodeEvent(event: DecisionEvent): EncodedEvent {
  const fields = new Map<EventField, string>();
  for (const k of UPLOAD_FIELDS) {
    const v = event[k];
    if (v !== undefined) fields.set(k, goJson(v));
  }
  return { fields, consoleError: event.error ? goJson(event.error.message) : undefined };
}

/** One element of an upload's JSON array. */
export function uploadJson(encoded: EncodedEvent): string {
  let out = '{';
  for (const k of UPLOAD_FIELDS) {
    const text = encoded.fields.get(k);
    if (text !== undefined) out += `${out.length === 1 ? '' : ','}"${k}":${text}`;
  }
  return `${out}}`;
}

/** One console line, newline-terminated; `now` is the logrus entry time (whole seconds). */
export function consoleLine(encoded: EncodedEvent, now: Date): string {
  const time = JSON.stringify(`${now.toISOString().slice(0, 19)}Z`);
  let out = '{';
  for (const k of CONSOLE_FIELDS) {
    const text = k === 'error' ? encoded.consoleError : k === 'time' ? time : (CONSOLE_CONSTANTS[k] ?? encoded.fields.get(k as EventField));
    // The console leaves out empty labels; uploads keep them.
    if (text !== undefined && !(k === 'labels' && text === '{}')) out += `${out.length === 1 ? '' : ','}"${k}":${text}`;
  }
  return `${out}}\n`;
}

/** Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros (and a bare dot) trimmed. */
export function formatTimestamp(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return fraction === '' ? `${base}Z` : `${base}.${fraction}Z`;
}

/**
 * The plugin puts `version` into the input as an OPA AST object, and Go's JSON encoder writes such an
 * object as its sorted list of [key, value] term pairs. Decision logs (and the mask and drop
 * policies reading them) see that form, so it is reproduced here, on a shallow copy.
 */
function withGoVersion(input: Record<string, unknown>): Record<string, unknown> {
  const version = input.version;
  if (!isStringMap(version)) return input;
  const pairs = Object.keys(version)
    .sort()
    .map((k) => [stringTerm(k), stringTerm(version[k]!)]);
  return { ...input, version: pairs };
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

function stringTerm(value: string): { type: 'string'; value: string } {
  return { type: 'string', value };
}
