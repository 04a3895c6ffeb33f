#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian
# machine (skopeo for the interop test, python3-venv where it is split out,
# the npm packages), then builds, type-checks, lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]} > 0)); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "scripts/test.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund --loglevel=error
npm test
