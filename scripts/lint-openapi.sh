#!/usr/bin/env bash
# Lints docs/openapi.yaml with Redocly CLI (the `recommended` rules, as set
# in redocly.yaml) at the version pinned in tools/openapi-lint. Installs it
# from npm's lockfile on the first run, and again when the lockfile changes.
# Exits non-zero on any error or warning (Redocly itself fails on errors only).
set -euo pipefail
cd "$(dirname "$0")/.."
tools=tools/openapi-lint

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "lint-openapi: '$tool' is not installed; install nodejs and npm: apt-get install nodejs npm" >&2
    exit 2
  fi
done
# The pinned @redocly/cli needs Node 20.19+ (or 22.12+).
if ! node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  process.exit((major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major > 22 ? 0 : 1);'; then
  echo "lint-openapi: Node $(node --version) is too old for @redocly/cli; it needs 20.19+ or 22.12+" >&2
  exit 2
fi

# npm ci writes node_modules/.package-lock.json: older than the lockfile
# (or absent) means the installed tree is not the one pinned.
if [ ! -f "$tools/node_modules/.package-lock.json" ] ||
   [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  echo "lint-openapi: installing $tools (npm ci)" >&2
  (cd "$tools" && npm ci --no-audit --no-fund)
fi

# No update check or usage report: the lint needs only the files here.
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true REDOCLY_TELEMETRY=off
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
npx --prefix "$tools" --no -- redocly lint docs/openapi.yaml --config redocly.yaml "$@" 2>&1 | tee "$out" ||
  status=$?
# Redocly exits 0 on warnings; we keep the document at none.
if [ "$status" -eq 0 ] && grep -Eq 'You have [0-9]+ warnings?' "$out"; then
  echo "lint-openapi: warnings above; fix them (or, with a comment saying why, turn the rule off in redocly.yaml)" >&2
  status=1
fi
exit "$status"
