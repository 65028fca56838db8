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
