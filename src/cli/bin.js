#!/usr/bin/env node
// The `jukebox` command. tsx compiles the TypeScript sources on the fly, so the CLI always runs
// the current src/ with no build step.
require('tsx/cjs');
const { main } = require('./main.ts');
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
