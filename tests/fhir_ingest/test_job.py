"""The job as a user runs it: ./spark-submit.sh jobs/fhir_ingest.py --input DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlake.synthetic.__main__ import main as generate
from tests.conftest import run_submit


@pytest.mark.slow
def test_job_loads_a_directory(tmp_path: Path) -> None:
    assert generate(["--out", str(tmp_path / "data"), "--patients", "1", "--seed", "3"]) == 0
    data = tmp_path / "data"  # its expected/*.json files are the generator's notes, not FHIR
    result = run_submit("jobs/fhir_ingest.py", "--input", str(data / "fhir"), "--input", str(data / "bad" / "fhir"),
                        home=tmp_path / "home")
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("medlake fhir_ingest succeeded") and "quarantined=9" in line
