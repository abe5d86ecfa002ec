"""jobs/dicom_ingest.py as a scheduler runs it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_submit

from .conftest import Synthetic

pytestmark = pytest.mark.slow


def test_job_exits_0_and_prints_the_summary(tmp_path: Path, synthetic: Synthetic) -> None:
    """One ./spark-submit.sh process (a cold JVM, a new metastore, every table created): about 50 s."""
    result = run_submit("jobs/dicom_ingest.py", "--input", str(synthetic.dicom), "--input", str(synthetic.catalogue),
                        home=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    files = sum(1 for d in (synthetic.dicom, synthetic.catalogue) for p in d.rglob("*") if p.is_file())
    pattern = (rf"medlake dicom_ingest succeeded run=[0-9a-f]{{32}}: files={files}, loaded=\d+, duplicates=2, "
               r"dicomdir=1, quarantined=\d+, too_large=0, skipped=0, image_sets=\d+")
    assert re.fullmatch(pattern, result.stdout.strip().splitlines()[-1])
