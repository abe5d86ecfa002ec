#!/usr/bin/env bash
# Run one medlake job with the installed PySpark's spark-submit, Delta Lake, the profile from conf/
# (MEDLAKE_PROFILE, default local) and lib/ shipped to executors:
#   ./spark-submit.sh [spark-submit options] jobs/JOB.py [job arguments]
# Sets up the environment on first use (output on stderr), so it is safe to call from cron.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/scripts/bootstrap.sh"
medlake_bootstrap || exit 2

settings=()
while IFS= read -r -d '' arg; do settings+=("$arg"); done < <("$MEDLAKE_PY" -m medlake.spark_defaults submit-args) || true
if [ ${#settings[@]} -eq 0 ]; then
  exit 2  # submit-args printed why on stderr
fi
exec "$MEDLAKE_VENV/bin/spark-submit" "${settings[@]}" "$@"
