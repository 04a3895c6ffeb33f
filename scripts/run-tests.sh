#!/usr/bin/env bash
# Runs the built tests. An e2e file spends most of its time waiting on the
# pypakr processes it starts, so three streams run at once:
#   - the e2e files but for the two below;
#   - the hostile corpus, then the longest files that work in pypakr homes
#     of their own (sharing only the base, which nothing modifies), so they
#     cannot disturb the others' shared home; they even out the two e2e
#     streams (about 500 s each on the 2-core machine). Such a file says so
#     itself on its first line: `// test-stream: own-home` (tsc keeps the
#     comment in the built file);
#   - the unit files, then the integration files (in-process servers and
#     stores, a few short CLI builds under two Node.js lines, and the export
#     tests), all of which work in their own temp dirs and homes, then the
#     e2e files that say `// test-stream: beside-unit` on their first line:
#     they too work in homes of their own, and this stream has room for them
#     (it ends about 300 s before the two e2e streams without them).
# Then the SIGKILL series runs alone: it kills commands at fractions of a
# normal run's time and needs most kills to land mid-way, which a machine
# busy with other streams makes unpredictable.
# The other streams' output is printed whole after the first's, so nothing
# interleaves; the exit code fails if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
hostile=dist/test/e2e/hostile.test.js
crash=dist/test/e2e/crash.test.js
mapfile -t own_homes < <(grep -lx '// test-stream: own-home' dist/test/e2e/*.test.js)
mapfile -t beside_unit < <(grep -lx '// test-stream: beside-unit' dist/test/e2e/*.test.js)
rest=()
for file in dist/test/e2e/*.test.js; do
  case " $hostile $crash ${own_homes[*]} ${beside_unit[*]} " in *" $file "*) ;; *) rest+=("$file") ;; esac
done

node --test "$hostile" "${own_homes[@]}" >"$logs/hostile" 2>&1 &
hostile_pid=$!
# Glob patterns, which node --test (22+) expands itself: it no longer takes a directory.
node --test "dist/test/unit/**/*.test.js" "dist/test/integration/**/*.test.js" "${beside_unit[@]}" >"$logs/unit" 2>&1 &
unit_pid=$!
node --test "${rest[@]}"
rest_status=$?
wait "$hostile_pid"
hostile_status=$?
wait "$unit_pid"
unit_status=$?
node --test "$crash" >"$logs/crash" 2>&1
crash_status=$?

echo "run-tests: e2e exit ${rest_status}, hostile corpus and own-home files exit ${hostile_status}, SIGKILL series exit ${crash_status}, unit and integration exit ${unit_status}; the latter three runs' output follows"
cat "$logs/hostile" "$logs/crash" "$logs/unit"
[ "$rest_status" -eq 0 ] && [ "$hostile_status" -eq 0 ] && [ "$crash_status" -eq 0 ] && [ "$unit_status" -eq 0 ]
