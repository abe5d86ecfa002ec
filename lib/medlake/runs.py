"""The run ledger ``ops.runs`` and the summary every job prints."""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from medlake.config import TableConfig
from medlake.stages import StageTime, Stages, stage_table
from medlake.tables import OPS_RUNS, create_table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

__all__ = ["Run", "RunSummary", "start_run"]

LOGGER = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """Counts of one job run, printed as one line at its end and stored in ``ops.runs``."""

    job: str
    run_id: str
    status: str = "succeeded"
    counts: dict[str, int] = field(default_factory=dict)
    table_versions: dict[str, int] = field(default_factory=dict)
    message: str = ""
    stages: dict[str, StageTime] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def add(self, **counts: int) -> None:
        """Add to the named counts."""
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + int(value)

    def one_line(self) -> str:
        """Return ``<job> <status> run=<id>: name=value, ...`` for the end of a job's output.

        Examples
        --------
        >>> RunSummary("sql", "ab12", counts={"rows": 3}).one_line()
        'medlake sql succeeded run=ab12: rows=3'
        """
        counts = ", ".join(f"{name}={value}" for name, value in self.counts.items())
        tail = f" ({self.message})" if self.message else ""
        return f"medlake {self.job} {self.status} run={self.run_id}: {counts}{tail}"

    def stage_table(self) -> str:
        """Return the run's stages as a table of wall seconds and Spark jobs (see :func:`stage_table`)."""
        return stage_table(self.stages, self.wall_seconds)


def _runs_schema() -> "StructType":
    from pyspark.sql.types import (
        DoubleType, LongType, MapType, StringType, StructField, StructType, TimestampType,
    )

    return StructType([
        StructField("run_id", StringType(), False, {"comment": "Unique id of the run"}),
        StructField("job", StringType(), False, {"comment": "Job name, e.g. fhir_ingest"}),
        StructField("started_at", TimestampType(), False),
        StructField("ended_at", TimestampType(), False),
        StructField("status", StringType(), False, {"comment": "succeeded or failed"}),
        StructField("counts", MapType(StringType(), LongType()), True, {"comment": "Record and file counts"}),
        StructField("table_versions", MapType(StringType(), LongType()), True,
                    {"comment": "Delta version of each table this run wrote, for VERSION AS OF"}),
        StructField("message", StringType(), True, {"comment": "Why a run failed (no patient data)"}),
        StructField("duration_seconds", LongType(), True),
        StructField("stage_seconds", MapType(StringType(), DoubleType()), True,
                    {"comment": "Wall seconds of each stage of the run, in stage order"}),
    ])


@dataclass
class Run:
    """A run in progress: its id, start time and summary; :meth:`finish` writes the ledger row."""

    spark: "SparkSession"
    summary: RunSummary
    tables: TableConfig
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    _clock: float = field(default_factory=time.monotonic)
    _stages: Stages = field(init=False)

    def __post_init__(self) -> None:
        self._stages = Stages(self.spark, label=f"{self.summary.job} {self.run_id[:8]}")

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.summary.run_id

    def stage(self, name: str, **counts: int) -> AbstractContextManager[dict[str, int]]:
        """Time a block as the stage ``name`` (wall seconds, Spark jobs); counts put into the
        yielded dict are logged with it (counts only, never values)."""
        return self._stages.timed(name, **counts)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        """Record a failed run; the exception goes on. Only medlake's own messages are stored,
        since other errors (from Spark or a library) may quote data values."""
        if error is None:
            return
        from medlake.errors import MedlakeError

        message = str(error) if isinstance(error, MedlakeError) else f"{type(error).__name__} (see the job's log)"
        try:
            self.finish("failed", message)
        except Exception:  # the ledger must not hide the original error
            LOGGER.exception("Unable to record the failed run %s in %s", self.run_id, OPS_RUNS)

    def finish(self, status: str = "succeeded", message: str = "") -> RunSummary:
        """Append the run's row to ``ops.runs`` and return its summary."""
        self.summary.status = status
        self.summary.message = message
        with self.stage("ledger"):
            self._append_ledger_row(status, message)
        self.summary.stages = dict(self._stages.times)
        self.summary.wall_seconds = time.monotonic() - self._clock
        return self.summary

    def _append_ledger_row(self, status: str, message: str) -> None:
        ended = datetime.now(timezone.utc)
        create_table(self.spark, OPS_RUNS, _runs_schema(), settings=self.tables,
                     comment="One row per medlake job run")
        row = (
            self.run_id, self.summary.job, self.started_at, ended, status,
            dict(self.summary.counts), dict(self.summary.table_versions), message or None,
            int((ended - self.started_at).total_seconds()),
            {name: round(stage.seconds, 3) for name, stage in self._stages.times.items()},
        )
        # mergeSchema: ledgers written before stage_seconds existed gain the column.
        (self.spark.createDataFrame([row], _runs_schema()).write.format("delta").mode("append")
         .option("mergeSchema", "true").saveAsTable(OPS_RUNS))


def start_run(spark: "SparkSession", job: str, tables: TableConfig) -> Run:
    """Start a run of ``job`` with a fresh run id."""
    return Run(spark=spark, summary=RunSummary(job=job, run_id=uuid.uuid4().hex), tables=tables)
