// Preload (`node -r ./bench/report-rss.js ...`) that prints the process's peak resident set size
// on exit, as one line `peak_rss_bytes <n>` on stderr. Used by bench/memory.ts and the memory test
// to measure the real CLI without changing it.
process.on('exit', () => {
  require('fs').writeSync(2, `peak_rss_bytes ${process.resourceUsage().maxRSS * 1024}\n`);
});
