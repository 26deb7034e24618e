// Types of scripts/host-builtins.mjs, for the tests that import it.
export declare const GENERATED: string;
export declare const NEVER_HOST_CALLS: Readonly<Record<string, string>>;
export declare function pinnedOpaVersion(): string;
export declare function opaSourceDir(version?: string): string;
export declare function deriveHostBuiltins(dir: string): { capabilities: string[]; native: string[]; host: string[] };
export declare function render(version: string, host: readonly string[]): string;
