"""Stage timings of a job run: wall seconds and the Spark jobs each stage ran.

A stage is a block of a job (``with stages.timed("list"): ...``). Its Spark jobs are counted
exactly, also when stages run at the same time in several threads: each stage runs its jobs in a
Spark job group of its own (job groups are per thread), and the status tracker lists a group's
jobs. The timings end every job's output as a small table and go to ``ops.runs.stage_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["StageTime", "Stages", "stage_table"]

LOGGER = logging.getLogger(__name__)

_GROUP_PROPERTY = "spark.jobGroup.id"


@dataclass
class StageTime:
    """One stage's wall seconds and Spark job count (summed when a stage name repeats)."""

    seconds: float = 0.0
    spark_jobs: int = 0


@dataclass
class Stages:
    """The ordered stages of one run."""

    spark: "SparkSession | None"
    label: str = ""
    times: dict[str, StageTime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def timed(self, name: str, **counts: int) -> Iterator[dict[str, int]]:
        """Time the block as stage ``name``; counts put into the yielded dict are logged at its end."""
        context = self.spark.sparkContext if self.spark is not None else None
        group = f"medlake-{name}-{uuid.uuid4().hex[:8]}"
        previous = context.getLocalProperty(_GROUP_PROPERTY) if context is not None else None
        if context is not None:
            context.setJobGroup(group, name)
        logged: dict[str, int] = dict(counts)
        started = time.monotonic()
        try:
            yield logged
        finally:
            seconds = time.monotonic() - started
            jobs = len(context.statusTracker().getJobIdsForGroup(group)) if context is not None else 0
            if context is not None:
                _restore_group(context, previous)
            with self._lock:
                stage = self.times.setdefault(name, StageTime())
                stage.seconds += seconds
                stage.spark_jobs += jobs
            details = ", ".join(f"{key}={value}" for key, value in logged.items())
            LOGGER.info("[%s] %s: %.1fs, %d Spark jobs%s", self.label, name, seconds, jobs,
                        f": {details}" if details else "")

def _restore_group(context: Any, previous: str | None) -> None:
    """Put back the thread's job group as it was before the stage."""
    context.setLocalProperty(_GROUP_PROPERTY, previous)
    if previous is None:
        context.setLocalProperty("spark.job.description", None)
        context.setLocalProperty("spark.job.interruptOnCancel", None)


def stage_table(times: dict[str, StageTime], wall_seconds: float) -> str:
    """Return stages as a small text table: stage, wall seconds, Spark jobs, then the run's total.

    Stages that ran at the same time (the FHIR ingest loads a few types at once) overlap, so the
    total is the run's own wall time, not the sum of the rows.

    Examples
    --------
    >>> print(stage_table({"list": StageTime(1.25, 2), "write": StageTime(0.5, 1)}, 2.0))
    stage  seconds  spark jobs
    list      1.25           2
    write     0.50           1
    total     2.00           3
    """
    width = max([len("stage"), len("total"), *(len(name) for name in times)])
    lines = [f"{'stage':<{width}}  {'seconds':>7}  {'spark jobs':>10}"]
    for name, stage in times.items():
        lines.append(f"{name:<{width}}  {stage.seconds:>7.2f}  {stage.spark_jobs:>10}")
    total_jobs = sum(stage.spark_jobs for stage in times.values())
    lines.append(f"{'total':<{width}}  {wall_seconds:>7.2f}  {total_jobs:>10}")
    return "\n".join(lines)
