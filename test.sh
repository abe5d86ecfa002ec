#!/usr/bin/env bash
# Run medlake's checks: type checks, the test suite (with the library's docstring examples), and
# every benchmark once at tiny size so they do not rot. Sets up the environment on first use.
#   ./test.sh                 everything (about 25 minutes on 2 cores, see the README)
#   ./test.sh -m "not slow"   pytest options are passed through; benchmarks run only without options
# Ends with one line of wall seconds per phase (set-up, mypy, pytest, benchmarks).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/scripts/bootstrap.sh"

phases=()
phase_started=$SECONDS
end_phase() {  # name: record the wall seconds since the previous phase ended
  phases+=("$1 $((SECONDS - phase_started))s")
  phase_started=$SECONDS
}
report_phases() {
  echo "medlake: test.sh phases (wall): ${phases[*]}; total $((SECONDS))s" >&2
}
trap report_phases EXIT

# The quality report test opens the report in a real browser: Debian's Chromium, installed when missing.
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  echo "medlake: installing chromium with apt-get (the quality report test opens the report in it)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 && [ -x /usr/bin/chromium ] || {
    echo "medlake: Unable to install chromium with apt-get (run as root, or install Debian's chromium package)" >&2
    return 2
  }
}

medlake_bootstrap || exit 2
ensure_chromium || exit 2
cd "$MEDLAKE_ROOT"
end_phase set-up
echo "medlake: mypy" >&2
"$MEDLAKE_PY" -m mypy
end_phase mypy
echo "medlake: pytest" >&2
# Two pytest workers (pytest-xdist): one runs the tests that run whole processes (./spark-submit.sh,
# demo.sh, a kernel; tests.conftest.PROCESS_TESTS), which mostly wait for their children, and the
# other every in-process test in one Spark session (the root conftest's scheduler).
# Per-test times also go to build/pytest-junit.xml.
"$MEDLAKE_PY" -m pytest -n 2 --doctest-modules --durations=25 --junitxml=build/pytest-junit.xml \
  lib/medlake tests "$@"
end_phase pytest
if [ $# -eq 0 ]; then
  echo "medlake: benchmarks at tiny size, in one process" >&2
  "$MEDLAKE_PY" benchmarks/tiny.py
  end_phase benchmarks
fi
