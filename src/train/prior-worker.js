// Entry point of a prior training worker thread: worker threads start without the parent's
// TypeScript loader, so register tsx here and run the TypeScript body.
require('tsx/cjs');
require('./prior-worker-main.ts');
