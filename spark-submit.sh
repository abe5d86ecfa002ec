#!/usr/bin/env bash
# Run one medlake job with the installed PySpark's spark-submit, Delta Lake, the profile from conf/
# (MEDLAKE_PROFILE, default local) and lib/ shipped to executors:
#   ./spark-submit.sh [spark-submit options] jobs/JOB.py [job arguments]
# or serve the same catalogue over SQL:
#   ./spark-submit.sh --thrift [--port N] [--bind HOST] [--hiveconf K=V ...]  JDBC (HiveServer2), loopback:10000
#   ./spark-submit.sh --sql-shell [spark-sql options]                         the spark-sql shell
#   ./spark-submit.sh --metastore start|stop|status                           the shared metastore server
# Sets up the environment on first use (output on stderr), so it is safe to call from cron.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/scripts/bootstrap.sh"
medlake_bootstrap || exit 2

submit_args() {
  settings=()
  while IFS= read -r -d '' arg; do settings+=("$arg"); done < <("$MEDLAKE_PY" -m medlake.spark_defaults submit-args "$@") || true
  if [ ${#settings[@]} -eq 0 ]; then
    exit 2  # submit-args printed why on stderr
  fi
}

case "${1:-}" in
  --metastore)
    shift
    exec "$MEDLAKE_PY" -m medlake.metastore "$@" ;;
  --thrift)
    shift
    port=10000 bind=127.0.0.1 extra=()
    while [ $# -gt 0 ]; do
      case "$1" in
        --port) port="$2"; shift 2 ;;
        --bind) bind="$2"; shift 2 ;;
        *) extra+=("$1"); shift ;;
      esac
    done
    submit_args --sql-server
    exec "$MEDLAKE_VENV/bin/spark-submit" "${settings[@]}" \
      --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 --name medlake-thrift spark-internal \
      --hiveconf "hive.server2.thrift.port=$port" --hiveconf "hive.server2.thrift.bind.host=$bind" \
      ${extra[@]+"${extra[@]}"} ;;
  --sql-shell)
    shift
    submit_args --sql-server
    exec "$MEDLAKE_VENV/bin/spark-submit" "${settings[@]}" \
      --class org.apache.spark.sql.hive.thriftserver.SparkSQLCLIDriver --name medlake-sql spark-internal "$@" ;;
esac
submit_args
exec "$MEDLAKE_VENV/bin/spark-submit" "${settings[@]}" "$@"
