#!/bin/sh
# Makes data/report-screenshot.png for the README: `jukebox reconstruct` on the demo clip, and the
# top of its report.html photographed by headless Chromium (Debian's package), offline.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx jukebox reconstruct data/demo-clip.wav --vqvae data/demo-mini.safetensors --out-dir "$out" --quiet
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$out/profile" --hide-scrollbars \
  --window-size=1100,1000 --virtual-time-budget=10000 --screenshot="$out/shot.png" "file://$out/report.html" 2>/dev/null
mv "$out/shot.png" data/report-screenshot.png
