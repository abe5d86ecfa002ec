"""Hostile inputs through both ingests: each gets its outcome and reason, the good files load, counts add up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from medlake.dicom.ingest_job import run_dicom_ingest
from medlake.fhir.ingest_job import run_fhir_ingest
from medlake.synthetic.__main__ import main as generate
from medlake.tables import OPS_FILES


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("hostile")
    assert generate(["--out", str(root), "--patients", "0", "--hostile"]) == 0
    return root / "hostile", json.loads((root / "expected" / "hostile.json").read_text())


def _outcomes(spark: Any, run_id: str, directory: Path, quarantine: str) -> dict[str, tuple[str, str | None]]:
    """Per file of the run (relative path): its ops.files outcome and its quarantine reasons."""
    prefix = f"file:{directory}/"
    reasons: dict[str, set[str]] = {}
    for row in spark.table(quarantine).where(F.col("run_id") == run_id).collect():
        reasons.setdefault(row.source_uri, set()).add(row.reason)
    rows = spark.table(OPS_FILES).where(F.col("run_id") == run_id).collect()
    assert all(row.records_in == row.loaded + row.duplicates + row.quarantined for row in rows)
    assert all(row.uri.startswith(prefix) for row in rows)
    found = {}
    for row in rows:
        got = reasons.get(row.uri, set())
        assert len(got) <= 1, (row.uri, got)
        found[row.uri.removeprefix(prefix)] = (row.outcome, next(iter(got), None))
    return found


def _expected(entries: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {entry["path"]: (entry["outcome"], entry["reason"]) for entry in entries}


def test_fhir_ingest_gives_each_hostile_file_its_outcome(spark: Any, config: Any,
                                                         hostile: tuple[Path, dict[str, Any]]) -> None:
    directory, expected = hostile
    summary = run_fhir_ingest(spark, config, [str(directory / "fhir")])
    counts = summary.counts
    assert counts["records_in"] == counts["loaded"] + counts["duplicates"] + counts["quarantined"]
    assert _outcomes(spark, summary.run_id, directory / "fhir", "fhir.quarantine") == _expected(expected["fhir"])
    good = [e for e in expected["fhir"] if e["outcome"] == "loaded"]
    ids = {row.id for row in spark.sql("SELECT id FROM fhir.patient WHERE id LIKE 'hostile-%'").collect()}
    assert len(ids) == len(good), sorted(ids)  # one Patient per loaded file (deep.ndjson: the line beside)


def test_dicom_ingest_gives_each_hostile_file_its_outcome(spark: Any, config: Any,
                                                          hostile: tuple[Path, dict[str, Any]]) -> None:
    directory, expected = hostile
    summary = run_dicom_ingest(spark, config, [str(directory / "dicom")])
    assert summary.counts["files"] == len(expected["dicom"])
    assert _outcomes(spark, summary.run_id, directory / "dicom", "dicom.quarantine") == _expected(expected["dicom"])
    loaded = spark.table("dicom.instance").where(F.col("source_uri").startswith(f"file:{directory}/dicom/")).count()
    assert loaded == sum(e["outcome"] == "loaded" for e in expected["dicom"])
