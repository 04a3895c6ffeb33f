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

# The tests compare digests of images built under two Node.js lines (what a
# digest promises across them: README, "What a digest promises across Node.js
# versions"). This provides the line that is not the one on PATH: Node.js 22,
# the oldest pypakr supports (24 where PATH's is 22), installed like the one
# above into a cache directory of its own, once, and exports its binary as
# PYPAKR_TEST_OTHER_NODE. Where it cannot (no npm, no network), it says why
# and exports PYPAKR_TEST_OTHER_NODE_ERROR instead, with which that test
# fails: a run of the whole suite must not pass without the comparison. A
# PYPAKR_TEST_OTHER_NODE already set (a Node.js 22.15+ of one's own) is kept.
# The gist of npm's error output: its code and first message line, without the stack.
pypakr_npm_error() {
  printf '%s\n' "$1" | sed -n 's/^npm error //p' |
    awk '/^code / { code = $2; next } /^(syscall|errno) / || /^ *at / || /^ *$/ { next } !message { message = $0 } END { print (code ? code ": " : "") message }'
}

pypakr_provide_other_node() {
  local who="$1"
  if [ -n "${PYPAKR_TEST_OTHER_NODE:-}" ]; then
    echo "$who: the digest comparison's other Node.js is PYPAKR_TEST_OTHER_NODE=$PYPAKR_TEST_OTHER_NODE"
    return 0
  fi
  local current line=22
  current="$(node -p 'process.versions.node')"
  [ "${current%%.*}" != 22 ] || line=24
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/pypakr/node-$line"
  local binary="$cache/node_modules/.bin/node" output reason=""
  if [ ! -x "$binary" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      reason="no npm to install Node.js $line from the npm registry"
    else
      echo "$who: installing Node.js $line from the npm registry into $cache, for the test that compares digests made under Node.js $current and $line"
      mkdir -p "$cache"
      output="$(npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error "node@$line" 2>&1 >/dev/null)" ||
        reason="npm install node@$line into $cache failed: $(pypakr_npm_error "$output")"
    fi
  fi
  local version
  if [ -z "$reason" ] && ! version="$("$binary" -p 'process.versions.node' 2>&1)"; then
    reason="the Node.js installed into $cache does not run here ($version); remove that directory and run again"
  fi
  if [ -n "$reason" ]; then
    echo "$who: cannot provide Node.js $line for the digest comparison: $reason; that test will fail" >&2
    export PYPAKR_TEST_OTHER_NODE_ERROR="$reason"
    return 0
  fi
  echo "$who: the digest comparison's other Node.js is $version from $cache"
  export PYPAKR_TEST_OTHER_NODE="$binary"
}
