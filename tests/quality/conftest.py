"""A small lake for the quality gates: generated FHIR and DICOM ingested and transcoded once, seen as
two lakes of their own: ``clean`` (views of exactly this data) and ``faulty`` (copies with planted faults).

The session's ``fhir``, ``dicom`` and ``ops`` databases also hold other tests' data, so the suites run
over databases of this module's own (:class:`medlake.quality.suites.Lake`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import medlake
from medlake.errors import JobError
from medlake.fhir.tables import typed_table
from medlake.quality.gate import run_quality
from medlake.quality.suites import Lake
from medlake.runs import RunSummary
from medlake.synthetic.__main__ import main as generate

PATIENTS = 3
SEED = 14
#: The FHIR types with checks of their own (fewer types: a faster ingest).
FHIR_TYPES = ("Patient", "Observation", "Encounter", "Condition")
#: Tables of the clean lake, each with the column that names the run that wrote a row.
_DICOM_TABLES = {"dicom.instance": "run_id", "dicom.series": "run_id", "dicom.study": "run_id",
                 "dicom.image_set": "run_id", "dicom.frame": "run_id"}
_OPS_TABLES = {"ops.runs": "run_id", "ops.files": "run_id"}
ORPHAN = "Patient/no-such-patient"
FUTURE_BIRTH = "2999-01-01"


@dataclass(frozen=True)
class Generated:
    """The generator's output and this module's ingest runs."""

    root: Path
    types: list[str]
    runs: list[RunSummary]


@dataclass(frozen=True)
class Checked:
    """One quality run over a lake: its id, its summary (None when it failed) and the failure."""

    lake: Lake
    run_id: str
    summary: RunSummary | None
    error: JobError | None


def _lake(name: str) -> Lake:
    return Lake(fhir=f"{name}_fhir", dicom=f"{name}_dicom", ops=f"{name}_ops")


def _create_databases(spark: Any, lake: Lake) -> None:
    for database in (lake.fhir, lake.dicom, lake.ops):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")


def _latest_quality_run(spark: Any) -> str:
    return str(spark.sql("SELECT run_id FROM ops.runs WHERE job = 'quality' ORDER BY started_at DESC LIMIT 1")
               .first()[0])


def check_lake(spark: Any, config: Any, lake: Lake, suites: list[str] | None = None) -> Checked:
    """Run the quality gates over ``lake``; keep the JobError of a critical failure."""
    try:
        summary = run_quality(spark, config, suites, lake=lake)
    except JobError as error:
        return Checked(lake, _latest_quality_run(spark), None, error)
    return Checked(lake, summary.run_id, summary, None)


@pytest.fixture(scope="module")
def generated(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """Generated FHIR and DICOM, ingested and transcoded into the session's lake."""
    root = tmp_path_factory.mktemp("quality-data")
    assert generate(["--out", str(root), "--patients", str(PATIENTS), "--seed", str(SEED), "--dicom",
                     "--rows", "16", "--columns", "16", "--instances-per-series", "1", "--frames", "2"]) == 0
    runs = [medlake.fhir.ingest(spark, [str(root / "fhir" / f"{name}.ndjson") for name in FHIR_TYPES]),
            medlake.dicom.ingest(spark, [str(root / "dicom")]),
            medlake.dicom.transcode(spark)]
    return Generated(root, list(FHIR_TYPES), runs)


@pytest.fixture(scope="module")
def clean(spark: Any, config: Any, generated: Generated) -> Checked:
    """The quality run over views of exactly this module's rows."""
    lake = _lake(f"quality_clean_{uuid.uuid4().hex[:8]}")
    _create_databases(spark, lake)
    runs = ", ".join(f"'{summary.run_id}'" for summary in generated.runs)
    tables = {**{typed_table(name): "_run_id" for name in generated.types}, **_DICOM_TABLES, **_OPS_TABLES}
    for table, run_column in tables.items():
        spark.sql(f"CREATE VIEW {lake.table(table)} AS SELECT * FROM {table} WHERE {run_column} IN ({runs})")
    return check_lake(spark, config, lake)


@pytest.fixture(scope="module")
def faulty(spark: Any, config: Any, clean: Checked) -> Checked:
    """The quality run over copies of three clean tables with one planted fault each kind, the rest missing."""
    from pyspark.sql import functions as F

    lake = _lake(f"quality_faulty_{uuid.uuid4().hex[:8]}")
    _create_databases(spark, lake)
    patients = spark.table(clean.lake.table("fhir.patient")).orderBy("id")
    first, second = [row.id for row in patients.select("id").limit(2).collect()]
    (patients.withColumn("birthDate", F.when(F.col("id") == second, F.lit(FUTURE_BIRTH)).otherwise(F.col("birthDate")))
     .unionByName(patients.where(F.col("id") == first))  # a duplicate id
     .write.format("delta").saveAsTable(lake.table("fhir.patient")))
    observations = spark.table(clean.lake.table("fhir.observation")).orderBy("id").limit(10)  # 1 orphan: 10 %
    bogus, orphan = [row.id for row in observations.select("id").limit(2).collect()]
    (observations.withColumn("status", F.when(F.col("id") == bogus, F.lit("not-a-status")).otherwise(F.col("status")))
     .withColumn("subject", F.when(F.col("id") == orphan, F.col("subject").withField("reference", F.lit(ORPHAN)))
                 .otherwise(F.col("subject")))
     .write.format("delta").saveAsTable(lake.table("fhir.observation")))
    frames = spark.table(clean.lake.table("dicom.frame"))
    unverified = frames.where(F.col("action") == "transcoded").select("frame_id").orderBy("frame_id").first()[0]
    (frames.withColumn("verification", F.when(F.col("frame_id") == unverified, F.lit(None))
                       .otherwise(F.col("verification")))
     .write.format("delta").saveAsTable(lake.table("dicom.frame")))
    return check_lake(spark, config, lake)
