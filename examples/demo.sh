#!/usr/bin/env bash
# The README's sample command: from a fresh clone, install and build pypakr,
# then run the original workflow on the jokes sample:
#   init -> create-image -> inspect -> create-container -> run.
# Everything it makes goes under one temporary directory (printed at the end);
# the base venv goes where pypakr keeps it (~/.local/share/pypakr by default).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/node.sh
pypakr_use_node examples/demo.sh
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
pypakr() { "$repo/dist/bundle/pypakr" "$@"; }
step() { printf '\n$ %s\n' "$*"; "$@"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/pypakr-demo-XXXXXX")"
src="$work/jokes"
mkdir -p "$src/packages"
cp examples/jokes/setup examples/jokes/run "$src/"
# The sample's two packages, built as wheels with the standard library only.
wheel() { # name dir [extra make_wheel args...]
  local name="$1" dir="$2"; shift 2
  python3 test/fixtures/make_wheel.py "$src/packages" "$name" 1.0 \
    --file "${dir}/__init__.py=$(cat "examples/jokes/packages-src/$name/$dir/__init__.py")" "$@" >/dev/null
}
wheel jokes-core jokes_core
wheel jokes-cli jokes_cli --requires jokes-core --script joke=jokes_cli:main
tar -C "$src" -cf "$work/CUSTOM.tar" .

step pypakr init
step pypakr create-image -s "$work/CUSTOM.tar" -i "$work/IMAGE.tar" -t jokes:1
step pypakr inspect "$work/IMAGE.tar"
step pypakr create-container -i "$work/IMAGE.tar" -c "$work/CONT"
step pypakr run -c "$work/CONT" -r ./run
step "$work/CONT/bin/joke" seed-42
echo
echo "demo: everything is in $work (image: $work/IMAGE.tar, container: $work/CONT)"
if [ -n "$pypakr_node_bin" ]; then
  echo "demo: to run $repo/dist/bundle/pypakr from your shell, put that Node.js first: export PATH=\"$pypakr_node_bin:\$PATH\""
fi
