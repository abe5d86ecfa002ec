"""Run by test_local_cluster through ./spark-submit.sh: prints which worker processes ran 4 tasks."""

import json

from medlake.config import load_config
from medlake.diagnostics import worker_processes
from medlake.session import build_session



def main() -> None:
    spark = build_session(load_config())
    rows = [row.asDict() for row in worker_processes(spark, tasks=4).collect()]
    print(json.dumps({"master": spark.sparkContext.master, "workers": rows}))
    spark.stop()


if __name__ == "__main__":  # pytest --doctest-modules imports this file too
    main()
