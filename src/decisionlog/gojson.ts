// JSON text as Go's encoding/json writes it, so that logged events are byte-for-byte what OPA logs:
// object keys sorted (Go marshals maps in key order), and <, >, &, U+2028 and U+2029 escaped.
// Keys are ordered here rather than by rebuilding objects for JSON.stringify, because JS objects
// always put integer-like keys first ("9" before "10"), where Go sorts them as text.
//
// Limits: keys sort by UTF-16 code units where Go sorts UTF-8 bytes (they differ only between
// astral characters and U+E000..U+FFFF); -0 is written as 0; bigint is not supported.

const GO_ESCAPED = /[<>&\u2028\u2029]/;
const GO_ESCAPED_ALL = /[<>&\u2028\u2029]/g;
const GO_ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};
// JSON.stringify writes a lone surrogate as a \udXXX escape (an even run of backslashes before it
// means the backslash is its own); Go has no such strings and writes U+FFFD for invalid text.
const LONE_SURROGATE_ESCAPE = /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/g;

/** Any JSON value; `undefined` members of objects are left out, as JSON.stringify does. */
export function goJson(value: unknown): string {
  return goText(write(value));
}

/**
 * Go's escapes applied to finished JSON text. The characters concerned cannot occur outside string
 * literals, so one pass over the text does for all its strings.
 */
export function goText(json: string): string {
  const escaped = GO_ESCAPED.test(json) ? json.replace(GO_ESCAPED_ALL, (c) => GO_ESCAPES[c]!) : json;
  return escaped.includes('\\ud') ? escaped.replace(LONE_SURROGATE_ESCAPE, '$1\uFFFD') : escaped;
}

function write(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? writeArray(value) : writeObject(value as Record<string, unknown>);
    default:
      return 'null';
  }
}

function writeArray(items: readonly unknown[]): string {
  let out = '[';
  for (let i = 0; i < items.length; i++) out += (i === 0 ? '' : ',') + write(items[i]);
  return `${out}]`;
}

function writeObject(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(k)}:${write(v)}`;
  }
  return `${out}}`;
}
