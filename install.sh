#!/usr/bin/env bash
# One-step set-up: install dependencies, build, make `kitty-sync` callable, and (given a
# repository path) install the hooks there. Safe to run twice.
#
#   ./install.sh                 # set up kitty-sync itself
#   ./install.sh /path/to/repo   # ... and install its hooks into that repository
#
# `kitty-sync` is made callable with a symlink to dist/bundle/kitty-sync.js in a bin directory:
# $KITTY_SYNC_BIN_DIR if set, else /usr/local/bin as root, else ~/.local/bin. (A symlink
# rather than `npm link`: nothing global is installed and a second run just re-points it.)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if [ "$#" -gt 1 ]; then
  echo "usage: $0 [REPOSITORY]" >&2
  exit 2
fi
repo="${1:-}"
if [ -n "$repo" ] && [ ! -d "$repo" ]; then
  echo "install.sh: $repo: no such directory" >&2
  exit 2
fi

command -v node >/dev/null || { echo "install.sh: node (>= 20) is required" >&2; exit 1; }
command -v git >/dev/null || { echo "install.sh: git is required" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  { echo "install.sh: node >= 20 is required (found $(node --version))" >&2; exit 1; }

# better-sqlite3 (the database of `kitty-sync serve`) is built from source by npm.
for tool in python3 make g++; do
  command -v "$tool" >/dev/null || echo "install.sh: warning: $tool not found; building better-sqlite3 (for kitty-sync serve) needs python3, make and g++" >&2
done

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
npm run build
cli="$here/dist/bundle/kitty-sync.js"
chmod +x "$cli"
echo "kitty-sync built: $cli"

if [ -n "${KITTY_SYNC_BIN_DIR:-}" ]; then
  bindir="$KITTY_SYNC_BIN_DIR"
elif [ "$(id -u)" = 0 ]; then
  bindir=/usr/local/bin
else
  bindir="$HOME/.local/bin"
fi
mkdir -p "$bindir"
link="$bindir/kitty-sync"
if [ -e "$link" ] && [ ! -L "$link" ]; then
  echo "install.sh: $link exists and is not a symlink; not replacing it (set KITTY_SYNC_BIN_DIR to use another directory)" >&2
  exit 1
fi
ln -sfn "$cli" "$link"
echo "kitty-sync linked: $link -> $cli"
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "note: $bindir is not on your PATH; add it (e.g. export PATH=\"$bindir:\$PATH\") to call kitty-sync by name" ;;
esac

if [ -n "$repo" ]; then
  # Through node directly: the launchers record this node and this CLI by absolute path.
  node "$cli" install --repo "$repo"
fi
