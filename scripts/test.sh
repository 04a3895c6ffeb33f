#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian
# machine (skopeo for the interop tests, docker-registry, apache2-utils'
# htpasswd and openssl for the real-registry push/pull tests, bubblewrap and
# socat for the sandbox tests (serve's isolation), mmdebstrap, umoci and runc
# for the export tests (a runtime image built from Debian's packages, unpacked
# and run as a container), chromium for the hub's browser tests (without its
# recommends, which would add some 100 packages), python3-venv where it is
# split out, Node.js 24 where the system's is older than 22.15,
# Node.js 22 for the test that compares digests across Node.js lines, the npm
# packages), then builds, type-checks, lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node.sh
pypakr_use_node scripts/test.sh
pypakr_provide_other_node scripts/test.sh

missing=()
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
command -v runc >/dev/null 2>&1 || missing+=(runc)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]} > 0)); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "scripts/test.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x /usr/lib/chromium/chromium ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "scripts/test.sh: installing chromium"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

npm ci --no-audit --no-fund --loglevel=error
npm test
