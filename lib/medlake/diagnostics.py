"""Where work really runs: a pandas UDF that reports each executor's Python process.

Useful to check a cluster set-up (the environment's packages importable on every executor) and
used by the tests to prove that work crosses executor processes.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING, Iterable, Iterator

import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["describe_worker", "worker_processes"]


def describe_worker() -> dict[str, str]:
    """Describe the current Python process: pid, host, interpreter and key package versions."""
    import imagecodecs
    import pydicom

    return {
        "pid": str(os.getpid()),
        "host": socket.gethostname(),
        "python": sys.executable,
        "pydicom": pydicom.__version__,
        "imagecodecs": imagecodecs.__version__,
    }


def _describe_batches(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        yield pd.DataFrame([{**describe_worker(), "task": int(value)} for value in batch["id"]])


def worker_processes(spark: "SparkSession", tasks: int) -> "DataFrame":
    """Run ``tasks`` one-row tasks and return, per task, the Python worker that ran it.

    Returns
    -------
    Columns ``task``, ``pid``, ``host``, ``python``, ``pydicom``, ``imagecodecs``.
    """
    if tasks < 1:
        raise ValueError(f"'tasks' must be at least 1, got {tasks}")
    schema = "pid string, host string, python string, pydicom string, imagecodecs string, task long"
    return spark.range(0, tasks, 1, numPartitions=tasks).mapInPandas(_describe_batches, schema)
