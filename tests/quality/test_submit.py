"""jobs/quality.py as a scheduler runs it: exit 1 on a critical failure, the reason on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_submit

pytestmark = pytest.mark.slow

PATIENT = {"resourceType": "Patient", "id": "quality-future-birth", "gender": "female", "birthDate": "2999-01-01"}


def test_critical_failure_exits_1_naming_the_suite_and_check(tmp_path: Path) -> None:
    """Two ./spark-submit.sh processes (an ingest of one patient born in the future, then the job): about
    110 s on a loaded machine."""
    data = tmp_path / "fhir"
    data.mkdir()
    (data / "Patient.ndjson").write_text(json.dumps(PATIENT) + "\n")
    ingest = run_submit("jobs/fhir_ingest.py", "--input", str(data), home=tmp_path / "home")
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    result = run_submit("jobs/quality.py", "--suite", "fhir.patient", home=tmp_path / "home")
    assert result.returncode == 1, result.stderr[-3000:]
    assert ("medlake: Unable to pass the quality gates as 1 critical expectation(s) failed: suite fhir.patient, "
            "check birth_date_not_in_future (expect_column_values_to_be_between on birthDate_start): "
            "1 of 1 rows unexpected") in result.stderr
    assert (tmp_path / "home" / "reports" / "quality" / "index.html").is_file()
    assert PATIENT["id"] not in result.stderr + result.stdout
    assert PATIENT["birthDate"] not in result.stderr + result.stdout
