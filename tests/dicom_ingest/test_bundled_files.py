"""Every file bundled with pydicom (test_files and charset_files) through one ingest run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pydicom
from pyspark.sql import functions as F

from medlake.dicom.header import HeaderOptions, read_instance
from medlake.dicom.ingest_job import JOB, run_dicom_ingest
from medlake.dicom.tables import DICOM_INSTANCE, DICOM_QUARANTINE, create_dicom_tables
from medlake.tables import OPS_FILES

DATA_ROOT = Path(pydicom.__file__).parent / "data"
FOLDERS = [DATA_ROOT / "test_files", DATA_ROOT / "charset_files"]
INSTANCE = "instance"  # loaded or duplicate: which one depends on the other files


def _category(outcome: str, reason: str | None) -> str:
    if outcome in ("loaded", "duplicate"):
        return INSTANCE
    return f"{outcome}:{reason}" if reason else outcome


def test_every_bundled_file_gets_the_outcome_read_instance_gives_it(spark: Any, config: Any) -> None:
    files = sorted(p for folder in FOLDERS for p in folder.rglob("*") if p.is_file())
    options = HeaderOptions.from_config(config.dicom)
    records = {path: read_instance(path.read_bytes(), path.as_uri(), options) for path in files}
    expected = {path: _category(r.outcome, r.reason) for path, r in records.items()}
    instance_uids = {r.sop_instance_uid for r in records.values() if r.outcome == "loaded"}
    create_dicom_tables(spark, config.tables)
    already_loaded = {row.sop_instance_uid for row in spark.table(DICOM_INSTANCE)
                      .where(F.col("sop_instance_uid").isin(list(instance_uids))).collect()}

    summary = run_dicom_ingest(spark, config, [str(folder) for folder in FOLDERS])

    rows = spark.table(OPS_FILES).where((F.col("job") == JOB) & (F.col("run_id") == summary.run_id)).collect()
    reasons = {row.source_uri: row.reason for row in spark.table(DICOM_QUARANTINE).collect()}
    actual = {Path(row.uri.removeprefix("file:")): _category(row.outcome, reasons.get(row.uri)) for row in rows}
    assert actual == expected
    loaded = sum(r.outcome == "loaded" for r in records.values())
    assert summary.counts == {
        "files": len(files), "loaded": len(instance_uids - already_loaded),
        "duplicates": loaded - len(instance_uids - already_loaded),
        "dicomdir": sum(r.outcome == "dicomdir" for r in records.values()),
        "quarantined": sum(r.outcome == "quarantined" for r in records.values()),
        "too_large": 0, "skipped": 0, "image_sets": summary.counts["image_sets"],
    }
    print("bundled outcome categories:", dict(Counter(expected.values())))
