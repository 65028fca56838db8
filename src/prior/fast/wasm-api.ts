import * as v8 from 'v8';

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

/**
 * Compiles a module that uses relaxed SIMD (fused multiply-add), or returns null where this engine
 * lacks SIMD128 or relaxed SIMD (callers then keep their tfjs formulation). Relaxed SIMD is on by
 * default from Node 22 (V8 11.4); Node 20 has it behind `--experimental-wasm-relaxed-simd`, which
 * V8 reads when it validates a module, so it is set here when the first attempt fails (worker
 * threads share the process's flags).
 */
export function compileRelaxedSimdModule(bytes: Uint8Array): WebAssembly.Module | null {
  try {
    return new wasmApi.Module(bytes);
  } catch {
    try {
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
      return new wasmApi.Module(bytes);
    } catch {
      return null;
    }
  }
}
