"""Generated Bundles and NDJSON shared by the Bundle tests, and a records builder for NDJSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from medlake.synthetic.__main__ import main

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PATIENTS = 3
SEED = 0


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the generator's output: NDJSON, one transaction Bundle per patient, the versions scenario."""
    out = tmp_path_factory.mktemp("bundles")
    assert main(["--out", str(out), "--patients", str(PATIENTS), "--seed", str(SEED), "--bundles"]) == 0
    return out


def ndjson_records(spark: SparkSession, path: Path, source_order: int) -> DataFrame:
    """Return an NDJSON file's lines as ingest records (the records contract plus ``request_time``)."""
    uri = path.resolve().as_uri()
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [(uri, number, "line", line, None, None, None, source_order, None)
            for number, line in enumerate(lines, start=1) if line.strip()]
    return spark.createDataFrame(rows, (
        "source_uri string, position long, position_kind string, raw_text string, request_method string, "
        "full_url string, request_url string, source_order long, request_time timestamp"))
