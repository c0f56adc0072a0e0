#!/usr/bin/env bash
# One-step set-up: install dependencies and build. Safe to run twice.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
npm ci --no-audit --no-fund
npm run build
echo "kitty-sync built: $here/dist/bin/kitty-sync.js"
