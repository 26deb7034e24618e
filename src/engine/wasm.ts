// A policy compiled by `opa build -t wasm`, instantiated once and evaluated many times. The module is
// instantiated here with our own imports, so that host builtins come from this project's table (Go OPA's
// semantics, checked at load) rather than the SDK's fallbacks; evaluation itself is the SDK's LoadedPolicy.
import { createRequire } from 'node:module';

// The SDK's ESM entry exports only loadPolicy; LoadedPolicy (used with our own instance) is on the CJS one.
const { LoadedPolicy } = createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as typeof import('@open-policy-agent/opa-wasm', { with: { 'resolution-mode': 'require' } });
type LoadedPolicy = InstanceType<typeof LoadedPolicy>;
import { BuiltinError, createHostBuiltins, type BuiltinFn, type BuiltinResult, type BuiltinValue, type HostBuiltins } from './builtins/index.js';
import { parseRegoValue, regoValueText } from './json.js';

export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
}

/** Evaluation failed inside the policy (abort, trap, out of memory, a builtin's internal failure). */
export class EvaluationError extends Error {
  override readonly name = 'EvaluationError';
}

export interface WasmPolicyOptions {
  /** Decision path (`envoy/authz/allow`) or query (`data.envoy.authz.allow`). */
  decision: string;
  /** Upper bound of the module's linear memory, in 64 KiB pages; growing past it fails the evaluation. */
  maxMemoryPages: number;
  /** Clock for time.now_ns (tests pin it). */
  now?: () => bigint;
  /** Builtins of the embedder's own (Go OPA's rego.RegisterBuiltin), by name; they may not replace OPA's. */
  extraBuiltins?: ReadonlyMap<string, BuiltinFn>;
}


/** `data.envoy.authz.allow`, `/envoy/authz/allow` and `envoy/authz/allow` all name entrypoint envoy/authz/allow. */
export function entrypointName(decision: string): string {
  const trimmed = decision.trim();
  if (trimmed.startsWith('data.') || trimmed === 'data') {
    return trimmed.slice(5).split('.').filter(Boolean).join('/');
  }
  return trimmed.split('/').filter(Boolean).join('/');
}

interface WasmExports {
  memory?: WebAssembly.Memory;
  builtins(): number;
  entrypoints(): number;
  opa_json_dump(addr: number): number;
  opa_value_dump(addr: number): number;
  opa_json_parse(addr: number, len: number): number;
  /** opa_json_parse that also reads Rego's set literals (every module since ABI 1.1). */
  opa_value_parse?(addr: number, len: number): number;
  opa_malloc(len: number): number;
  /** ABI 1.2 one-call evaluation: returns the address of the result set's JSON text. */
  opa_eval?(reserved: number, entrypoint: number, data: number, input: number, inputLen: number, heapPtr: number, format: number): number;
}

const PAGE = 64 * 1024;

export class WasmPolicy {
  readonly entrypoint: string;
  /** Builtins the module calls on the host. */
  readonly hostBuiltins: readonly string[];
  private readonly loaded: LoadedPolicy;
  private readonly entrypointId: number;
  private readonly builtins: HostBuiltins;

  /** Every entrypoint compiled into the module, name -> id. */
  readonly entrypoints: Readonly<Record<string, number>>;
  /** The data document the module was loaded with. */
  readonly data: unknown;
  private readonly fastEval: WasmExports['opa_eval'];
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  private constructor(loaded: LoadedPolicy, entrypoint: string, entrypointId: number, builtins: HostBuiltins, hostBuiltins: string[], data: unknown) {
    this.loaded = loaded;
    this.entrypoints = loaded.entrypoints as Record<string, number>;
    this.data = data;
    const exports = (loaded.wasmInstance as WebAssembly.Instance).exports as unknown as WasmExports;
    this.fastEval = Number(loaded.minorVersion) >= 2 ? exports.opa_eval : undefined;
    this.entrypoint = entrypoint;
    this.entrypointId = entrypointId;
    this.builtins = builtins;
    this.hostBuiltins = hostBuiltins;
  }

  /** Compiles, instantiates and checks a module; throws PolicyLoadError naming what is wrong. */
  static load(wasm: Uint8Array | WebAssembly.Module, data: unknown, options: WasmPolicyOptions): WasmPolicy {
    let module: WebAssembly.Module;
    try {
      module = wasm instanceof WebAssembly.Module ? wasm : new WebAssembly.Module(wasm);
    } catch (err) {
      throw new PolicyLoadError(`policy.wasm is not a valid WebAssembly module: ${(err as Error).message}`);
    }
    const builtins = createHostBuiltins(options.now ? { now: options.now } : undefined);
    const table = withExtraBuiltins(builtins.table, options.extraBuiltins);
    const memory = new WebAssembly.Memory({ initial: 5, maximum: options.maxMemoryPages });
    const host = new HostCalls(memory, table);
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, host.imports());
    } catch (err) {
      throw new PolicyLoadError(`cannot instantiate policy.wasm (is it built by "opa build -t wasm"?): ${(err as Error).message}`);
    }
    const exports = instance.exports as unknown as WasmExports;
    host.bind(exports);

    const required = host.readJson(exports.builtins()) as Record<string, number>;
    const missing = Object.keys(required).filter((name) => !table.has(name)).sort();
    if (missing.length > 0) {
      throw new PolicyLoadError(`policy needs builtin function${missing.length > 1 ? 's' : ''} that kmesh-opa does not implement: ${missing.join(', ')}`);
    }
    host.setBuiltinIds(required);

    const loaded = new LoadedPolicy(instance as unknown as WebAssembly.WebAssemblyInstantiatedSource, memory, abiMinorVersion(instance));
    const entrypoints = loaded.entrypoints as Record<string, number>;
    const entrypoint = entrypointName(options.decision);
    const entrypointId = entrypoints[entrypoint];
    if (entrypointId === undefined) {
      const known = Object.keys(entrypoints).join(', ') || 'none';
      throw new PolicyLoadError(`decision path "${options.decision}" is not an entrypoint of the policy (entrypoints: ${known}); build with "opa build -t wasm -e ${entrypoint}"`);
    }
    if (data !== undefined && data !== null) {
      try {
        loaded.setData(data as object);
      } catch (err) {
        throw new PolicyLoadError(`cannot load the policy's data document: ${String(err)}`);
      }
    }
    return new WasmPolicy(loaded, entrypoint, entrypointId, builtins, Object.keys(required).sort(), data ?? {});
  }

  /** Evaluates the decision; `undefined` when the policy leaves it undefined. Throws EvaluationError. */
  evaluate(input: unknown): unknown {
    return this.evaluateEntrypoint(this.entrypointId, input);
  }

  /**
   * Evaluates any document under data (for the REST API): the longest compiled entrypoint that contains
   * the path is evaluated and the rest of the path read from its result; paths outside every entrypoint
   * are read from the data document. `covered` is false when no entrypoint or data can answer.
   */
  evaluatePath(path: string, input: unknown): { covered: boolean; result: unknown } {
    const segments = entrypointName(path).split('/').filter(Boolean);
    for (let n = segments.length; n >= 0; n--) {
      const id = this.entrypoints[segments.slice(0, n).join('/')];
      if (id === undefined) continue;
      return { covered: true, result: descend(this.evaluateEntrypoint(id, input), segments.slice(n)) };
    }
    const fromData = descend(this.data, segments);
    return { covered: fromData !== undefined, result: fromData };
  }

  private evaluateEntrypoint(id: number, input: unknown): unknown {
    this.builtins.startEvaluation();
    let resultSet: unknown;
    try {
      resultSet = this.fastEval ? this.evalOneCall(this.fastEval, id, input) : this.loaded.evaluate(input, id);
    } catch (err) {
      throw new EvaluationError(describeThrown(err));
    }
    if (!Array.isArray(resultSet) || resultSet.length === 0) return undefined;
    const first = resultSet[0] as { result?: unknown };
    return first.result;
  }

  /**
   * The SDK's ABI 1.2 path without its per-call allocations: the input's JSON is encoded straight into
   * the module's memory above the data heap, and the common boolean result sets are recognised without
   * decoding them.
   */
  private evalOneCall(opaEval: NonNullable<WasmExports['opa_eval']>, id: number, input: unknown): unknown {
    const loaded = this.loaded;
    const memory = loaded.mem;
    const inputAddr = loaded.dataHeapPtr as number;
    let inputLen = 0;
    if (input !== undefined) {
      const text = JSON.stringify(input);
      const room = text.length * 3; // UTF-8 needs at most 3 bytes per UTF-16 unit
      const short = inputAddr + room - memory.buffer.byteLength;
      if (short > 0) memory.grow(Math.ceil(short / PAGE));
      inputLen = this.encoder.encodeInto(text, new Uint8Array(memory.buffer, inputAddr, room)).written;
    }
    const at = opaEval(0, id, loaded.dataAddr, inputAddr, inputLen, inputAddr + inputLen, 0);
    const heap = new Uint8Array(memory.buffer);
    const end = heap.indexOf(0, at);
    const len = end - at;
    if (len === TRUE_SET.length && sameBytes(heap, at, TRUE_SET)) return TRUE_RESULT;
    if (len === FALSE_SET.length && sameBytes(heap, at, FALSE_SET)) return FALSE_RESULT;
    return JSON.parse(this.decoder.decode(heap.subarray(at, end)));
  }
}

const TRUE_SET = Buffer.from('[{"result":true}]');
const FALSE_SET = Buffer.from('[{"result":false}]');
const TRUE_RESULT = Object.freeze([Object.freeze({ result: true })]);
const FALSE_RESULT = Object.freeze([Object.freeze({ result: false })]);

function sameBytes(heap: Uint8Array, at: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (heap[at + i] !== expected[i]) return false;
  return true;
}

function withExtraBuiltins(table: ReadonlyMap<string, BuiltinFn>, extra: ReadonlyMap<string, BuiltinFn> | undefined): ReadonlyMap<string, BuiltinFn> {
  if (extra === undefined || extra.size === 0) return table;
  const clash = [...extra.keys()].filter((name) => table.has(name));
  if (clash.length > 0) throw new PolicyLoadError(`extra builtins may not replace OPA's: ${clash.join(', ')}`);
  return new Map([...table, ...extra]);
}

function descend(value: unknown, segments: string[]): unknown {
  let node = value;
  for (const seg of segments) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = Array.isArray(node) ? (/^\d+$/.test(seg) ? node[Number(seg)] : undefined) : (node as Record<string, unknown>)[seg];
  }
  return node;
}

function abiMinorVersion(instance: WebAssembly.Instance): number {
  const g = instance.exports.opa_wasm_abi_minor_version as WebAssembly.Global | number | undefined;
  if (g === undefined) return 0;
  return typeof g === 'number' ? g : Number(g.value);
}

function describeThrown(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

/** The module's imports: memory, abort/println and the builtin trampolines. */
class HostCalls {
  private exports: WasmExports | undefined;
  private byId: (BuiltinFn | undefined)[] = [];
  private readonly decoder = new TextDecoder();
  private readonly encoder = new TextEncoder();
  /** Encodings of frozen result objects, which builtins hand back again (cached verifications). */
  private readonly encoded = new WeakMap<object, Uint8Array>();

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly table: ReadonlyMap<string, BuiltinFn>,
  ) {}

  bind(exports: WasmExports): void {
    this.exports = exports;
  }

  setBuiltinIds(ids: Record<string, number>): void {
    for (const [name, id] of Object.entries(ids)) this.byId[id] = this.table.get(name);
  }

  imports(): WebAssembly.Imports {
    const call = (id: number, args: number[]): number => this.callBuiltin(id, args);
    return {
      env: {
        memory: this.memory,
        opa_abort: (addr: number) => {
          throw new EvaluationError(`policy aborted: ${this.readString(addr)}`);
        },
        opa_println: (addr: number) => {
          process.stderr.write(`${this.readString(addr)}\n`);
        },
        opa_builtin0: (id: number) => call(id, []),
        opa_builtin1: (id: number, _ctx: number, a: number) => call(id, [a]),
        opa_builtin2: (id: number, _ctx: number, a: number, b: number) => call(id, [a, b]),
        opa_builtin3: (id: number, _ctx: number, a: number, b: number, c: number) => call(id, [a, b, c]),
        opa_builtin4: (id: number, _ctx: number, a: number, b: number, c: number, d: number) => call(id, [a, b, c, d]),
      },
    };
  }

  /** Returns the address of the result value, or 0 for "undefined" (how OPA treats builtin errors by default). */
  private callBuiltin(id: number, argAddrs: number[]): number {
    const fn = this.byId[id];
    if (!fn) throw new EvaluationError(`builtin #${id} is not implemented`);
    const args = argAddrs.map((a) => this.readValue(a));
    let result: BuiltinResult | undefined;
    try {
      result = fn(...args);
    } catch (err) {
      if (err instanceof BuiltinError) return 0;
      throw err;
    }
    return result === undefined ? 0 : this.writeValue(result);
  }

  readJson(addr: number): unknown {
    return parseRegoValue(this.readString(this.exports!.opa_json_dump(addr)));
  }

  /** Rego value syntax rather than JSON, so that sets stay sets (opa_json_dump makes them arrays). */
  private readValue(addr: number): BuiltinValue {
    return parseRegoValue(this.readString(this.exports!.opa_value_dump(addr)));
  }

  private writeValue(value: BuiltinResult): number {
    const exports = this.exports!;
    const bytes = this.encodeResult(value);
    const addr = exports.opa_malloc(bytes.length);
    new Uint8Array(this.memory.buffer, addr, bytes.length).set(bytes);
    const parse = exports.opa_value_parse ?? exports.opa_json_parse;
    const parsed = parse(addr, bytes.length);
    if (parsed === 0) throw new EvaluationError('builtin returned a value the policy cannot read');
    return parsed;
  }

  private encodeResult(value: BuiltinResult): Uint8Array {
    const reusable = typeof value === 'object' && value !== null && Object.isFrozen(value);
    let bytes = reusable ? this.encoded.get(value) : undefined;
    if (!bytes) {
      bytes = this.encoder.encode(regoValueText(value));
      if (reusable) this.encoded.set(value, bytes);
    }
    return bytes;
  }

  private readString(addr: number): string {
    const heap = new Uint8Array(this.memory.buffer);
    const end = heap.indexOf(0, addr);
    return this.decoder.decode(heap.subarray(addr, end === -1 ? heap.length : end));
  }
}
