/**
 * Compiles the hand-written WebAssembly text files (`src/**\/*.wat`) to the `.wasm` binaries
 * committed beside them:
 *
 *   npm run build:wasm
 *
 * The binaries are committed so that the toolkit runs after a plain `npm ci` with no build step
 * and no compiler at run time (wabt is a dev dependency only); test/prior/fast-sampling.test.ts
 * checks that each committed binary is its source compiled, so the two cannot drift apart.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as v8 from 'v8';
import wabt from 'wabt';

/** The `.wat` sources under `dir`, recursively. */
export function watSources(dir = path.join(__dirname, '..', 'src')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return watSources(full);
    return e.name.endsWith('.wat') ? [full] : [];
  });
}

/**
 * The binary of one `.wat` file (SIMD128, shared memory and relaxed SIMD; Node 20 validates relaxed
 * SIMD only with its V8 flag, set here as src/vqvae/fast/conv-arena.ts sets it before loading).
 */
export async function compileWat(file: string): Promise<Uint8Array> {
  const w = await wabt();
  const module = w.parseWat(path.basename(file), fs.readFileSync(file, 'utf8'), { simd: true, threads: true, relaxed_simd: true });
  try {
    const binary = module.toBinary({}).buffer;
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    // wabt.js's own validate() rejects shared memories whatever the features, so V8 validates.
    new WebAssembly.Module(binary);
    return binary;
  } finally {
    module.destroy();
  }
}

async function main(): Promise<void> {
  for (const file of watSources()) {
    const out = file.replace(/\.wat$/, '.wasm');
    fs.writeFileSync(out, await compileWat(file));
    console.log(`${path.relative(process.cwd(), file)} -> ${path.relative(process.cwd(), out)}`);
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
