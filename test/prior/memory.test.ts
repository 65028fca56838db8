import * as fs from 'fs';
import { afterAll, describe, expect, it } from 'vitest';
import { measureLoad, writeBenchCheckpoints } from '../../bench/prior-memory';
import { tempDir } from '../helpers';

/**
 * Loading streams tensor by tensor: on a random 340 MB prior stored as float16 (the published
 * checkpoints' storage; every tensor is widened on the way), the process grows by little more than
 * the float32 weights themselves. Measured in a fresh process (bench/prior-memory.ts).
 */
describe('prior loading memory', () => {
  const { dir, cleanup } = tempDir('jukebox-prior-memory-');
  afterAll(cleanup);

  it('peak RSS above the started runtime stays within 1.3x the float32 weights', async () => {
    const { f32, f16 } = await writeBenchCheckpoints(dir);
    fs.rmSync(f32);
    const m = measureLoad(f16);
    expect(m.weightBytes).toBeGreaterThan(300e6);
    expect((m.peakBytes - m.baselineBytes) / m.weightBytes).toBeLessThan(1.3);
  }, 120_000);
});
