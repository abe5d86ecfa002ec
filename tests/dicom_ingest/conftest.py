"""Synthetic DICOM (the roster's studies and the broken-file catalogue) ingested once per test run."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from medlake.dicom.ingest_job import run_dicom_ingest
from medlake.runs import RunSummary
from medlake.synthetic.__main__ import main as generate

# In-process sessions start Python workers with PYSPARK_PYTHON (else `python3` from PATH, which may lack
# medlake); set before the session fixture starts Spark. TODO(lead): set it in build_session.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

PATIENTS = 8
SEED = 61


@dataclass(frozen=True)
class Synthetic:
    """The generated tree and the generator's expectations."""

    root: Path
    dicom: Path
    catalogue: Path
    expected: dict[str, Any]
    catalogue_expected: list[dict[str, Any]]


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    root = tmp_path_factory.mktemp("synthetic-dicom")
    assert generate(["--out", str(root), "--patients", str(PATIENTS), "--seed", str(SEED), "--dicom",
                     "--rows", "16", "--columns", "16"]) == 0
    return Synthetic(root, root / "dicom", root / "bad" / "dicom",
                     json.loads((root / "expected" / "dicom.json").read_text()),
                     json.loads((root / "expected" / "broken-dicom.json").read_text()))


@pytest.fixture(scope="session")
def first_run(spark: Any, config: Any, synthetic: Synthetic) -> RunSummary:
    """The first ingest of the synthetic studies and the catalogue."""
    return run_dicom_ingest(spark, config, [str(synthetic.dicom), str(synthetic.catalogue)])
