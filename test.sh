#!/usr/bin/env bash
# Run medlake's checks: type checks, the test suite (with the library's docstring examples), and
# every benchmark once at tiny size so they do not rot. Sets up the environment on first use.
#   ./test.sh                 everything
#   ./test.sh -m "not slow"   pytest options are passed through
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/scripts/bootstrap.sh"
medlake_bootstrap || exit 2
cd "$MEDLAKE_ROOT"
echo "medlake: mypy" >&2
"$MEDLAKE_PY" -m mypy
echo "medlake: pytest" >&2
"$MEDLAKE_PY" -m pytest --doctest-modules lib/medlake tests "$@"
echo "medlake: benchmarks at tiny size" >&2
for benchmark in benchmarks/*.py; do
  echo "medlake: $benchmark --tiny" >&2
  MEDLAKE_HOME="$(mktemp -d)" "$MEDLAKE_PY" "$benchmark" --tiny
done
