"""Bundles through the whole FHIR ingest: references resolved, deletes, late versions, counts."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from medlake.fhir.ingest_job import run_fhir_ingest
from medlake.synthetic.__main__ import main as generate
from medlake.tables import table_version

SEED = 4242


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundles-e2e")
    assert generate(["--out", str(root), "--patients", "2", "--seed", str(SEED), "--bundles"]) == 0
    return root


def _adds_up(counts: dict[str, int]) -> None:
    assert counts["records_in"] == counts["loaded"] + counts["duplicates"] + counts["quarantined"], counts


def test_transaction_bundles_load_with_urn_uuid_references_rewritten(spark: Any, config: Any,
                                                                     generated: Path) -> None:
    summary = run_fhir_ingest(spark, config, [str(generated / "fhir-bundles")])
    _adds_up(summary.counts)
    assert summary.counts["quarantined"] == 0
    source = f"{(generated / 'fhir-bundles').as_uri().replace('file:///', 'file:/')}%"
    observations = spark.sql(f"SELECT subject.reference AS ref FROM fhir.observation WHERE _source_uri LIKE '{source}'")
    assert observations.count() > 0
    assert observations.where("ref LIKE 'urn:uuid:%'").count() == 0
    joined = spark.sql(f"""SELECT count(*) FROM fhir.observation o JOIN fhir.patient p
                           ON o.subject.reference = concat('Patient/', p.id) WHERE o._source_uri LIKE '{source}'""")
    assert joined.first()[0] == observations.count()
    raw = spark.sql(f"SELECT count(*) FROM fhir.raw WHERE _source_uri LIKE '{source}' AND raw_text LIKE '%urn:uuid:%'")
    assert raw.first()[0] > 0  # the raw text stays as it came


def _state(spark: Any, key: str) -> tuple[bool, str | None, bool]:
    kind, _, ident = key.rpartition("/") if "/" in key else ("", "", key.rsplit(":", 1)[-1])
    tables = [f"fhir.{kind.lower()}"] if kind else ["fhir.patient", "fhir.observation"]
    versions = [row[0] for table in tables
                for row in spark.sql(f"SELECT meta.versionId FROM {table} WHERE id = '{ident}'").collect()]
    tombstone = spark.sql(f"SELECT count(*) FROM fhir.tombstone WHERE id = '{ident}'").first()[0] > 0
    return bool(versions), versions[0] if versions else None, tombstone


def test_deletes_and_late_versions_follow_the_expected_states(spark: Any, config: Any, generated: Path,
                                                             tmp_path: Path) -> None:
    """The versions-and-deletes scenario through the real job, one run per step (about 5 ingests), then a
    replay of the first step's Bundle under another name: its DELETE and older versions change nothing.

    The scenario is about Patient and Observation, so only their NDJSON files are loaded first."""
    fhir = generated / "fhir"
    _adds_up(run_fhir_ingest(spark, config, [str(fhir / "Patient.ndjson"), str(fhir / "Observation.ndjson")]).counts)
    steps = json.loads((generated / "expected" / "versions.json").read_text())
    for step in steps:
        summary = run_fhir_ingest(spark, config, [str(generated / "fhir-versions" / step["file"])])
        _adds_up(summary.counts)
        for key, expected in step["expected"].items():
            assert _state(spark, key) == (expected["live"], expected["version_id"], expected["tombstone"]), \
                (step["file"], key)
    last = steps[-1]["expected"]
    before = {key: _state(spark, key) for key in last}, table_version(spark, "fhir.tombstone")
    replay = tmp_path / f"replayed-{steps[0]['file']}"
    shutil.copy2(generated / "fhir-versions" / steps[0]["file"], replay)  # same bytes and Bundle time
    _adds_up(run_fhir_ingest(spark, config, [str(replay)]).counts)
    assert ({key: _state(spark, key) for key in last}, table_version(spark, "fhir.tombstone")) == before
