#!/usr/bin/env bash
# `make test`: the suite in two passes over one venv.
#  1. every test not marked `serial`, on TEST_WORKERS pytest-xdist workers (default 3 on two cores: most
#     tests wait on subprocesses, servers and loopback HTTP, so one worker per core leaves the CPUs idle);
#  2. the tests marked `serial` alone, after it: they measure rates, latencies or kill a run at a point
#     in its progress, and the other tests' load must not skew what they measure.
# Extra arguments go to both passes (a pass that selects nothing is not a failure unless both do).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PYTEST=(.venv/bin/pytest -q --ignore=upstage_assets_tests/deploy/containers)
WORKERS="${TEST_WORKERS:-3}"

# --maxschedchunk 1: tests go out one at a time, so a minute-long test never has a queue of others behind it.
"${PYTEST[@]}" -n "$WORKERS" --dist load --maxschedchunk 1 -m "not serial" "$@"
parallel=$?
"${PYTEST[@]}" -m serial "$@"
serial=$?

ok() { [ "$1" -eq 0 ] || [ "$1" -eq 5 ]; }  # 5: this pass selected no test
if ok "$parallel" && ok "$serial" && ! { [ "$parallel" -eq 5 ] && [ "$serial" -eq 5 ]; }; then
  exit 0
fi
echo "make test: parallel pass exit $parallel, serial pass exit $serial" >&2
exit 1
