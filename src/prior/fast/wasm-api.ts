/**
 * The parts of the WebAssembly JS API the fast path uses, typed here and read from `globalThis`.
 * TypeScript declares `WebAssembly.Memory` and the constructors in lib.dom, which the tslab
 * notebook kernel does not load (it compiles with lib es2022 and sees no ambient .d.ts), so a
 * notebook importing src/index would not compile if these files named them directly.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => WebAssembly.Module;
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Instance: new (module: WebAssembly.Module, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}

export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
