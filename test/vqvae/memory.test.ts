import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodePeakRss, write5bCheckpoint, writeTestSong } from '../../bench/memory';
import { tempDir } from '../helpers';

/**
 * Long songs stream: peak memory follows the chunk, not the song. Measured on the real CLI
 * (`jukebox encode`, 5b preset, all levels) through bench/report-rss.js.
 */
describe('memory is bounded by the chunk', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);

  it('peak RSS for 60 s of audio is within 1.25x that for 15 s', async () => {
    const ckpt = path.join(dir, '5b.safetensors');
    await write5bCheckpoint(ckpt);
    const peaks: number[] = [];
    for (const seconds of [15, 60]) {
      const wav = path.join(dir, `song-${seconds}.wav`);
      await writeTestSong(wav, seconds);
      peaks.push(encodePeakRss(wav, ckpt, path.join(dir, `codes-${seconds}.safetensors`)));
    }
    const [short, long] = peaks;
    expect(long / short).toBeLessThan(1.25);
    // Both stay far below the 1 GB the 5b preset is allowed for a 4-minute song.
    expect(long).toBeLessThan(1024 ** 3);
  }, 300_000);
});
