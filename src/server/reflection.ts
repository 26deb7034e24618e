// gRPC server reflection for the ext_authz port. proto-loader describes each package as a synthetic
// file with no dependencies and with type names relative to that package, which reflection clients
// (grpcurl, Go's protodesc) cannot link; the descriptors are rewritten here, once, with every type name
// fully qualified and each file depending on the files whose types it uses, before @grpc/reflection
// serves them.
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';

interface FieldDescriptor {
  name: string;
  jsonName?: string;
  typeName?: string;
}
interface MessageDescriptor {
  name: string;
  options?: { mapEntry?: boolean };
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  enumType: { name: string }[];
}
interface FileDescriptor {
  name: string;
  package: string;
  dependency: string[];
  messageType: MessageDescriptor[];
  enumType: { name: string }[];
  service: { method: { inputType?: string; outputType?: string }[] }[];
}
interface FileDescriptorCodec {
  decode(bytes: Uint8Array): FileDescriptor;
  encode(message: FileDescriptor): { finish(): Uint8Array };
}

export async function addReflection(server: grpc.Server, packages: protoLoader.PackageDefinition[]): Promise<void> {
  const { ReflectionService } = await import('@grpc/reflection');
  const merged = Object.assign({}, ...packages) as protoLoader.PackageDefinition;
  new ReflectionService(linkDescriptors(merged)).addToServer(server);
}

function linkDescriptors(pkg: protoLoader.PackageDefinition): protoLoader.PackageDefinition {
  const codec = createRequire(import.meta.url)('protobufjs/ext/descriptor').FileDescriptorProto as FileDescriptorCodec;
  const files = new Map<string, FileDescriptor>();
  for (const def of Object.values(pkg)) {
    for (const bytes of (def as { fileDescriptorProtos?: Uint8Array[] }).fileDescriptorProtos ?? []) {
      const file = codec.decode(bytes);
      if (!files.has(file.name)) files.set(file.name, file);
    }
  }
  for (const file of files.values()) for (const m of file.messageType) nameMapEntries(m);
  /** Fully qualified type name -> the file defining it. */
  const known = new Map<string, string>();
  for (const file of files.values()) {
    const add = (scope: string, m: MessageDescriptor) => {
      const name = `${scope}.${m.name}`;
      known.set(name, file.name);
      for (const e of m.enumType) known.set(`${name}.${e.name}`, file.name);
      for (const n of m.nestedType) add(name, n);
    };
    for (const m of file.messageType) add(`.${file.package}`, m);
    for (const e of file.enumType) known.set(`.${file.package}.${e.name}`, file.name);
  }
  const encoded = new Map<string, Uint8Array>();
  for (const file of files.values()) {
    const uses = new Set<string>();
    const qualify = (name: string | undefined, scope: string) => {
      if (!name) return name;
      const full = resolveName(name, scope, known);
      const owner = known.get(full);
      if (owner !== undefined && owner !== file.name) uses.add(owner);
      return full;
    };
    const walk = (scope: string, m: MessageDescriptor) => {
      const inner = `${scope}.${m.name}`;
      for (const f of m.field) {
        f.typeName = qualify(f.typeName, inner);
        // protoc records the JSON name, and clients print JSON with it.
        f.jsonName = f.name.replace(/_([a-z0-9])/g, (_x, c: string) => c.toUpperCase());
      }
      for (const n of m.nestedType) walk(inner, n);
    };
    for (const m of file.messageType) walk(`.${file.package}`, m);
    for (const s of file.service) {
      for (const method of s.method) {
        method.inputType = qualify(method.inputType, `.${file.package}`);
        method.outputType = qualify(method.outputType, `.${file.package}`);
      }
    }
    file.dependency = [...uses];
    encoded.set(file.name, codec.encode(file).finish());
  }
  const all = [...encoded.values()];
  const out: protoLoader.PackageDefinition = {};
  for (const [name, def] of Object.entries(pkg)) out[name] = { ...def, fileDescriptorProtos: all } as typeof def;
  return out;
}

/** protoc names a map field's entry type `<FieldInPascalCase>Entry`; protobufjs does not, and linkers check. */
function nameMapEntries(m: MessageDescriptor): void {
  for (const nested of m.nestedType) {
    nameMapEntries(nested);
    if (!nested.options?.mapEntry) continue;
    const field = m.field.find((f) => f.typeName === nested.name);
    if (!field) continue;
    const entry = `${field.name.replace(/(?:^|_)([a-z0-9])/g, (_x, c: string) => c.toUpperCase())}Entry`;
    field.typeName = entry;
    nested.name = entry;
  }
}

/** Protobuf scoping: a relative name is looked up from the innermost enclosing scope outwards. */
function resolveName(name: string, scope: string, known: ReadonlyMap<string, string>): string {
  if (name.startsWith('.')) return name;
  for (let s = scope; ; s = s.slice(0, s.lastIndexOf('.'))) {
    const candidate = `${s}.${name}`;
    if (known.has(candidate)) return candidate;
    if (s === '') return `.${name}`;
  }
}
