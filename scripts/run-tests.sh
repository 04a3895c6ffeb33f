#!/usr/bin/env bash
# Runs the built tests in three streams at once, since an e2e file spends most
# of its time waiting on the pypakr processes it starts:
#   - the e2e files, but for the two longest;
#   - the two longest e2e files (the hostile corpus and the SIGKILL series),
#     which work in pypakr homes of their own (sharing only the base, which
#     nothing modifies), so they cannot disturb the others' shared home;
#   - the unit files, which work in their own temp dirs and homes.
# The other streams' output is printed whole after the first's, so nothing
# interleaves; the exit code fails if any stream failed.
set -uo pipefail
cd "$(dirname "$0")/.."

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
apart=(dist/test/e2e/hostile.test.js dist/test/e2e/crash.test.js)
rest=()
for file in dist/test/e2e/*.test.js; do
  case " ${apart[*]} " in *" $file "*) ;; *) rest+=("$file") ;; esac
done

node --test "${apart[@]}" >"$logs/apart" 2>&1 &
apart_pid=$!
node --test dist/test/unit/ >"$logs/unit" 2>&1 &
unit_pid=$!
node --test "${rest[@]}"
rest_status=$?
wait "$apart_pid"
apart_status=$?
wait "$unit_pid"
unit_status=$?

echo "run-tests: e2e exit ${rest_status}, e2e (hostile, crash) exit ${apart_status}, unit exit ${unit_status}; the latter two runs' output follows"
cat "$logs/apart" "$logs/unit"
[ "$rest_status" -eq 0 ] && [ "$apart_status" -eq 0 ] && [ "$unit_status" -eq 0 ]
