"""The quality gates over a clean lake and one with planted faults: outcomes, severities, ops.quality, the report."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from medlake.config import QualityConfig
from medlake.errors import ConfigError
from medlake.quality.gx import report_index
from medlake.quality.suites import DEFAULT_SEVERITIES, build_suites

from .conftest import FUTURE_BIRTH, PATIENTS, Checked, Generated, check_lake

CHROMIUM = "/usr/bin/chromium"
#: Suites that must run on the clean lake.
CLEAN_SUITES = {"fhir.patient", "fhir.observation", "fhir.encounter", "fhir.condition", "fhir.references",
                "dicom.instance", "dicom.frame", "dicom.compression", "dicom.image_set", "ops.ledger"}
#: suite, check, table, column, severity, unexpected count: the planted faults, nothing else failing.
PLANTED = [
    ("fhir.patient", "id_unique", "fhir.patient", "id", "critical", 2),
    ("fhir.patient", "birth_date_not_in_future", "fhir.patient", "birthDate_start", "critical", 1),
    ("fhir.observation", "observation_status_in_value_set", "fhir.observation", "status", "critical", 1),
    ("fhir.references", "patient_reference_resolves", "fhir.observation", "resolved_patient_id", "critical", 1),
    ("dicom.frame", "frame_verified", "dicom.frame", "verification", "critical", 1),
]


def _outcomes(spark: Any, checked: Checked) -> list[Any]:
    return spark.table("ops.quality").where(f"run_id = '{checked.run_id}'").collect()


def _run_counts(spark: Any, checked: Checked) -> dict[str, int]:
    row = spark.sql(f"SELECT status, counts FROM ops.runs WHERE run_id = '{checked.run_id}'").first()
    return {"failed": int(row.status == "failed"), **row.counts}


def test_clean_lake_passes_every_critical_check(spark: Any, clean: Checked) -> None:
    assert clean.error is None and clean.summary is not None
    rows = _outcomes(spark, clean)
    assert {row.suite for row in rows} >= CLEAN_SUITES
    assert [row for row in rows if row.severity == "critical" and not row.success] == []
    assert clean.summary.counts["failed_critical"] == 0
    assert clean.summary.counts["expectations"] == len(rows)
    ids = next(row for row in rows if (row.suite, row.check) == ("fhir.patient", "id_unique"))
    assert (ids.element_count, ids.unexpected_count, ids.unexpected_percent) == (PATIENTS, 0, 0.0)
    references = [row for row in rows if row.check == "patient_reference_resolves"]
    assert sorted(row.table for row in references) == ["fhir.condition", "fhir.encounter", "fhir.observation"]
    assert all(row.element_count > 0 and row.unexpected_count == 0 for row in references)


def test_each_suite_is_a_stage_of_the_run(clean: Checked) -> None:
    assert clean.summary is not None
    assert CLEAN_SUITES <= set(clean.summary.stages)
    assert all(clean.summary.stages[name].spark_jobs > 0 for name in CLEAN_SUITES)


@pytest.mark.parametrize("suite, check, table, column, severity, unexpected", PLANTED)
def test_planted_fault_is_caught(spark: Any, faulty: Checked, suite: str, check: str, table: str, column: str,
                                 severity: str, unexpected: int) -> None:
    rows = [row for row in _outcomes(spark, faulty) if (row.suite, row.check, row.column) == (suite, check, column)]
    assert [(row.table, row.severity, row.success, row.unexpected_count) for row in rows] == [
        (table, severity, False, unexpected)]


def test_only_the_planted_faults_fail(spark: Any, faulty: Checked) -> None:
    failed = {(row.suite, row.check, row.column) for row in _outcomes(spark, faulty) if not row.success}
    assert failed == {(suite, check, column) for suite, check, _, column, _, _ in PLANTED}


def test_critical_failure_fails_the_run_naming_suite_and_expectation(spark: Any, faulty: Checked) -> None:
    assert faulty.error is not None
    message = str(faulty.error)
    assert ("suite fhir.patient, check birth_date_not_in_future (expect_column_values_to_be_between on "
            "birthDate_start): 1 of 4 rows unexpected") in message
    assert "suite dicom.frame, check frame_verified (expect_column_values_to_not_be_null on verification)" in message
    assert FUTURE_BIRTH not in message
    counts = _run_counts(spark, faulty)
    assert (counts["failed"], counts["failed_critical"], counts["failed_warning"]) == (1, len(PLANTED), 0)


def test_suites_of_missing_tables_are_skipped(spark: Any, faulty: Checked) -> None:
    ran = {row.suite for row in _outcomes(spark, faulty)}
    assert ran == {"fhir.patient", "fhir.observation", "fhir.references", "dicom.frame"}
    assert _run_counts(spark, faulty)["suites_skipped"] == len(CLEAN_SUITES) - len(ran)


def test_a_check_made_a_warning_is_reported_without_failing(spark: Any, config: Any, faulty: Checked) -> None:
    relaxed = dataclasses.replace(config, quality=QualityConfig(severity={"frame_verified": "warning"}))
    checked = check_lake(spark, relaxed, faulty.lake, ["dicom.frame"])
    assert checked.error is None and checked.summary is not None
    assert (checked.summary.counts["failed_critical"], checked.summary.counts["failed_warning"]) == (0, 1)
    assert [(row.check, row.severity) for row in _outcomes(spark, checked) if not row.success] == [
        ("frame_verified", "warning")]


def test_unknown_checks_and_suites_are_configuration_errors(spark: Any, config: Any, faulty: Checked) -> None:
    with pytest.raises(ConfigError, match=r"unknown checks \['no_such_check'\]"):
        build_suites(spark, QualityConfig(severity={"no_such_check": "warning"}))
    with pytest.raises(ConfigError, match="'critical' or 'warning'"):
        QualityConfig(severity={"id_unique": "fatal"})
    with pytest.raises(ConfigError, match=r"unknown suites \['fhir.nothing'\]"):
        check_lake(spark, config, faulty.lake, ["fhir.nothing"])
    assert set(DEFAULT_SEVERITIES.values()) == {"critical", "warning"}


def _patient_values(spark: Any, generated: Generated, clean: Checked) -> set[str]:
    """Names, birth dates and ids of the generated patients, from the NDJSON and the DICOM headers."""
    values = set()
    for line in (generated.root / "fhir" / "Patient.ndjson").read_text().splitlines():
        patient = json.loads(line)
        values |= {patient["id"], patient["birthDate"]}
        for name in patient.get("name", []):
            values |= {name["family"], *name.get("given", [])}
    for row in spark.table(clean.lake.table("dicom.study")).select("patient_id", "patient_name").collect():
        values |= {row.patient_id, *re.split(r"[\^=]", row.patient_name)}
    return {value for value in values if value and len(value) >= 3}


def test_report_and_results_hold_no_patient_values(spark: Any, config: Any, generated: Generated, clean: Checked,
                                                   faulty: Checked) -> None:
    values = _patient_values(spark, generated, clean)
    assert len(values) > 3 * PATIENTS
    pattern = re.compile("|".join(rf"\b{re.escape(value)}\b" for value in sorted(values)))
    written = [path for folder in (report_index(config).parent, Path(config.home) / "gx")
               for path in folder.rglob("*") if path.is_file()]
    assert any(path.suffix == ".html" for path in written)
    leaks = {str(path): match.group(0) for path in written
             if (match := pattern.search(path.read_text(encoding="utf-8", errors="replace")))}
    assert leaks == {}
    texts = [" ".join(str(value) for value in row) for checked in (clean, faulty) for row in _outcomes(spark, checked)]
    assert [text for text in texts if pattern.search(text)] == []


def test_report_renders_the_suites_in_a_browser(spark: Any, config: Any, clean: Checked, faulty: Checked,
                                                tmp_path: Path) -> None:
    """Chromium (Debian's package; test.sh installs it) opens the index page headless, offline, and dumps its
    DOM: the suites' names are links in its tables."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (test.sh does)"
    index = report_index(config)
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", index.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rendered = re.sub(r"<script\b.*?</script>", "", result.stdout, flags=re.DOTALL)  # the page's text, not its code
    linked = set(re.findall(r"<a [^>]*href=\"(?:expectations|validations)/[^\"]+\"[^>]*>\s*([\w.]+)\s*</a>", rendered))
    assert linked >= CLEAN_SUITES
    validated = spark.sql("SELECT bool_and(success) AS passed FROM ops.quality GROUP BY run_id, suite").collect()
    statuses = re.findall(r"</span>\s*(passed|failed)</a>", rendered)
    assert sorted(statuses) == sorted("passed" if row.passed else "failed" for row in validated)
