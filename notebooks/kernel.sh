#!/bin/sh
# The notebooks' kernel: tslab started at the repository root, so cells import the current
# sources as './src' (tslab compiles local TypeScript only below its working directory).
cd "$(dirname "$0")/.." || exit 1
exec node_modules/.bin/tslab "$@"
