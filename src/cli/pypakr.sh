#!/bin/sh
# The `pypakr` command. Everything runs in Node (pypakr.js beside this file)
# except `pypakr run` on a container that has a launch file: that one execs the
# program from here, because Node's own start-up (60-80 ms) is more than run's
# whole overhead budget. The launch file, written by create-container, sets the
# environment Node's run would set (src/container/launch.ts). Anything this
# script does not recognise, and every error, goes to Node, which gives the
# proper message; so both paths behave alike.
#
# The launch file sets the image's environment in this shell, and an image may
# name any variable (mode, IFS, PATH, ...). So everything is decided before it
# is sourced: what to do after it is a function chosen beforehand, and that
# function reads nothing but "$@", quoted, and expands no variable. Only PATH
# then has an effect, the one it is meant to have: finding the program.
set -u

# launch_check --entrypoint ARGS... | --program PROGRAM ARGS...: in the
# container's directory, sets its environment and the command line (the
# launch file puts the entry point before ARGS), and tells whether the program
# could be exec'd (nothing is run). The launch file refuses a container that
# is not where it was made.
launch_check() {
  . ./.pypakr/launch-v3.sh || return 1
  case $1 in
    */*) [ -f "$1" ] && [ -x "$1" ] || return 1 ;;
    *) case $(command -v -- "$1") in /*) ;; *) return 1 ;; esac ;;
  esac
}

# launch_exec (the same arguments): the same, then becomes the program.
launch_exec() {
  . ./.pypakr/launch-v3.sh || return 1
  exec "$@"
}

# fast_run check|exec run [-c DIR | --container[=]DIR] [-r SCRIPT | --script[=]SCRIPT] [--] [ARGS...]
# Reads run's options, enters the container, and ends in launch_check or
# launch_exec; returns 1 for anything Node must handle. ARGS go to the entry
# point, or with -r to SCRIPT.
fast_run() {
  mode=$1
  shift 2
  container='' script='' has_script=''
  while [ $# -gt 0 ]; do
    case $1 in
      -c | --container) [ $# -ge 2 ] || return 1; container=$2; shift 2 ;;
      --container=*) container=${1#--container=}; shift ;;
      -r | --script) [ $# -ge 2 ] || return 1; script=$2; has_script=1; shift 2 ;;
      --script=*) script=${1#--script=}; has_script=1; shift ;;
      --) shift; break ;;
      -*) return 1 ;;
      *) break ;;
    esac
  done
  [ -n "$container" ] || return 1
  # A relative path is the working directory's: ./ keeps cd from searching CDPATH.
  case $container in /*) ;; *) container=./$container ;; esac
  [ -f "$container/.pypakr/launch-v3.sh" ] || return 1
  # -P: $PWD is then the real path, which the launch file compares with where the container was made.
  cd -P -- "$container" 2>/dev/null || return 1
  if [ -n "$has_script" ]; then set -- --program "$script" "$@"; else set -- --entrypoint "$@"; fi
  # The last variable read here: what follows the launch file is fixed now.
  if [ "$mode" = check ]; then launch_check "$@"; else launch_exec "$@"; fi
}

# The check runs in a subshell, so a fallback to Node starts from the caller's
# directory and environment (an image's environment must never reach Node).
if [ "${1-}" = run ] && (fast_run check "$@"); then
  fast_run exec "$@"
  exit 127
fi
here=$(dirname "$(readlink -f "$0")")
# PYPAKR_NODE: the Node.js to use when `node` on PATH is not it (the Python wheel points it at its own).
# The hub is a long-running server that allocates in bursts (a bulk push's
# notifications): V8's young generation grows to 16 MB per semi-space under
# such load and stays there; 2 MB keeps the hub's memory flat (bench/lib/hub.ts).
if [ "${1-}" = hub ]; then exec "${PYPAKR_NODE:-node}" --max-semi-space-size=2 "$here/pypakr.js" "$@"; fi
exec "${PYPAKR_NODE:-node}" "$here/pypakr.js" "$@"
