#!/usr/bin/env bash
# Runs the built tests: the unit files beside the e2e files, since each
# e2e file spends most of its time waiting on the pypakr processes it starts
# (one core idles), while the unit files work in their own temp dirs and
# homes. The unit output is printed after the e2e output, whole, so neither
# interleaves; the exit code fails if either run failed.
set -uo pipefail
cd "$(dirname "$0")/.."

unit_log=$(mktemp)
trap 'rm -f "$unit_log"' EXIT
node --test dist/test/unit/ >"$unit_log" 2>&1 &
unit_pid=$!
node --test dist/test/e2e/
e2e_status=$?
wait "$unit_pid"
unit_status=$?
echo "run-tests: e2e exit ${e2e_status}, unit exit ${unit_status}; the unit run's output follows"
cat "$unit_log"
[ "$e2e_status" -eq 0 ] && [ "$unit_status" -eq 0 ]
