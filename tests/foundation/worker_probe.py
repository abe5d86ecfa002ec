"""Run by test_local_cluster through ./spark-submit.sh: prints which worker processes ran 4 tasks."""

import json
import sys

from medlake.config import load_config
from medlake.diagnostics import worker_processes
from medlake.session import build_session

spark = build_session(load_config())
rows = [row.asDict() for row in worker_processes(spark, tasks=4).collect()]
print(json.dumps({"master": spark.sparkContext.master, "workers": rows}))
spark.stop()
sys.exit(0)
