# Sourced by scripts/test.sh and examples/demo.sh: makes sure the `node` on
# PATH is one pypakr supports (22.15 or newer: zstd in node:zlib, the module
# compile cache). Where the system's Node is older or missing, it installs
# Node 24 LTS from the npm registry (the `node` package, which fetches the
# official build for this platform) into a cache directory outside the
# repository, once, and puts it first on PATH for the rest of the script.
# PYPAKR_NODE_CACHE moves the cache.

pypakr_node_min_major=22
pypakr_node_min_minor=15
pypakr_node_line=24
# Set to the cached Node's bin directory when pypakr_use_node put it on PATH.
pypakr_node_bin=""

pypakr_node_ok() { # prints the version of `node` on PATH if it is new enough
  local version
  version="$(node -p 'process.versions.node' 2>/dev/null)" || return 1
  local major="${version%%.*}" rest="${version#*.}"
  local minor="${rest%%.*}"
  if ((major > pypakr_node_min_major || (major == pypakr_node_min_major && minor >= pypakr_node_min_minor))); then
    echo "$version"
  else
    return 1
  fi
}

pypakr_use_node() {
  local who="$1" found
  if found="$(pypakr_node_ok)"; then
    return 0
  fi
  local system
  system="$(node -p 'process.versions.node' 2>/dev/null || echo none)"
  local cache="${PYPAKR_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pypakr/node-$pypakr_node_line}"
  if [ ! -x "$cache/node_modules/.bin/node" ]; then
    command -v npm >/dev/null 2>&1 || {
      echo "$who: pypakr needs Node.js $pypakr_node_min_major.$pypakr_node_min_minor or newer and this machine has $system, with no npm to fetch one; install Node.js $pypakr_node_line LTS (https://nodejs.org) and run again" >&2
      exit 1
    }
    echo "$who: the system's Node.js is $system (pypakr needs $pypakr_node_min_major.$pypakr_node_min_minor or newer); installing Node.js $pypakr_node_line LTS from the npm registry into $cache"
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error "node@$pypakr_node_line" >/dev/null
  fi
  export PATH="$cache/node_modules/.bin:$PATH"
  found="$(pypakr_node_ok)" || {
    echo "$who: the Node.js installed into $cache does not run here; remove that directory and run again, or install Node.js $pypakr_node_line LTS yourself" >&2
    exit 1
  }
  echo "$who: using Node.js $found from $cache (the system's is $system)"
  pypakr_node_bin="$cache/node_modules/.bin"
}
