/**
 * A one-line progress display on stderr, redrawn in place. Silent when stderr is not a terminal
 * (logs and pipes get no carriage-return noise) or when `quiet`.
 */
export function progressLine(label: string, unit: (n: number) => string, quiet = false): {
  update: (done: number, total: number) => void;
  finish: () => void;
} {
  const enabled = !quiet && process.stderr.isTTY === true;
  const start = Date.now();
  return {
    update(done, total) {
      if (!enabled) return;
      const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
      const elapsed = (Date.now() - start) / 1000;
      process.stderr.write(`\r${label}: ${pct}% (${unit(done)} of ${unit(total)}, ${elapsed.toFixed(1)} s)`);
    },
    finish() {
      if (enabled) process.stderr.write('\n');
    },
  };
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** The sampling progress line: level, window k/n, a bar, tokens/s and the ETA of the level. */
export function formatSampleProgress(p: { level: number; window: number; windows: number; done: number; total: number; tokensPerSecond: number; etaSeconds: number }): string {
  const width = 20;
  const fraction = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const bar = '='.repeat(Math.floor(fraction * width)).padEnd(width, ' ');
  return `level ${p.level} window ${p.window}/${p.windows} [${bar}] ${Math.floor(fraction * 100)}% ${p.tokensPerSecond.toFixed(1)} tokens/s ETA ${clock(p.etaSeconds)}`;
}

/**
 * Sampling progress on stderr: redrawn in place on a terminal, one line per finished level
 * otherwise (logs stay short); nothing when `quiet`.
 */
export function sampleProgressLine(quiet = false): {
  update: (p: Parameters<typeof formatSampleProgress>[0]) => void;
  finish: () => void;
} {
  const tty = !quiet && process.stderr.isTTY === true;
  let open = false;
  return {
    update(p) {
      if (quiet) return;
      const line = formatSampleProgress(p);
      if (tty) {
        process.stderr.write(`\r${line}`);
        open = true;
        if (p.done >= p.total && p.window === p.windows) {
          process.stderr.write('\n');
          open = false;
        }
      } else if (p.done >= p.total && p.window === p.windows) {
        process.stderr.write(`${line}\n`);
      }
    },
    finish() {
      if (open) process.stderr.write('\n');
      open = false;
    },
  };
}
