#!/usr/bin/env bash
# Try kitty-sync end to end against the local receiver, in a scratch directory:
# start `kitty-sync serve`, make a repository with a real feature, install the hooks,
# commit, and show what the hook printed and what the receiver stored.
# Usage: ./demo.sh            (after ./install.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cli="$here/dist/bundle/kitty-sync.js"

if [ ! -f "$cli" ]; then echo "demo: run ./install.sh first (no build in $here/dist)" >&2; exit 2; fi
ks() { node "$cli" "$@"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/kitty-sync-demo.XXXXXX")"
port="${KITTY_SYNC_DEMO_PORT:-8787}"
serve_log="$work/serve.log"
# node itself in the background (not through the ks function, whose subshell $! would name):
# the cleanup must stop the receiver, and wait for it, so the port is free when the demo ends.
node "$cli" serve --port "$port" --data "$work/received" >"$serve_log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$serve_log" 2>/dev/null && break; sleep 0.1; done
if ! grep -q listening "$serve_log"; then cat "$serve_log" >&2; echo "demo: the receiver did not start (is port $port free? set KITTY_SYNC_DEMO_PORT)" >&2; exit 1; fi
url="http://127.0.0.1:$port"
echo "== receiver: $url (data in $work/received)"

repo="$work/repo"
git init -q -b main "$repo"
git -C "$repo" config user.name "kitty-sync demo"
git -C "$repo" config user.email "demo@example.invalid"
feature=047-namespace-aware-artifact-body-sync
corpus="$here/../shared/corpus/kitty-specs/$feature"
mkdir -p "$repo/kitty-specs"
if [ -d "$corpus" ]; then
  cp -R "$corpus" "$repo/kitty-specs/"
else
  mkdir -p "$repo/kitty-specs/$feature/tasks"
  printf '# Spec\n\nA demo feature.\n' >"$repo/kitty-specs/$feature/spec.md"
  printf '# Plan\n' >"$repo/kitty-specs/$feature/plan.md"
  printf '# WP01\n' >"$repo/kitty-specs/$feature/tasks/WP01-demo.md"
fi

echo "== kitty-sync install"
ks install --repo "$repo"
git -C "$repo" add -A

export KITTY_SYNC_SERVER_URL="$url"
echo "== git commit (the post-commit hook uploads what the commit changed)"
git -C "$repo" commit -q -m "Add $feature"

echo "== edit spec.md and commit again"
printf '\nOne more line.\n' >>"$repo/kitty-specs/$feature/spec.md"
git -C "$repo" commit -q -am "Edit spec"

echo "== kitty-sync status"
ks status --repo "$repo"

echo "== what the receiver stored"
node -e '
fetch(process.argv[1] + "/__artifacts").then((r) => r.json()).then((body) => {
  const list = Array.isArray(body) ? body : body.artifacts ?? [];
  for (const a of list) console.log(`  ${a.namespace.feature_slug} [${a.namespace.target_branch}] ${a.artifact_path}  ${a.latest_hash.slice(0, 12)}  (${a.versions.length} version${a.versions.length === 1 ? "" : "s"})`);
  console.log(`  ${list.length} artifact(s)`);
});' "$url"
echo "== done; scratch files in $work"
echo "== dashboard: $url/"
# On a terminal, keep the receiver up so the newcomer can open the dashboard; otherwise just exit.
if [ -t 0 ] && [ -t 1 ]; then read -r -p "Open $url/ in a browser; press Enter to stop the receiver. " _ || true; fi
