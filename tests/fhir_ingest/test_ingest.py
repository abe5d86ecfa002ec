"""FHIR bulk NDJSON ingest over generated data: counts, reasons, exactness, versions, reruns."""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from medlake.config import MedlakeConfig
from medlake.fhir.ingest_job import rebuild_typed_tables, run_fhir_ingest, version_key
from medlake.fhir.roundtrip import first_difference
from medlake.fhir.schema import json_text_paths, load_schema_json, resource_types
from medlake.fhir.tables import LINEAGE_COLUMNS, typed_table
from medlake.runs import RunSummary
from medlake.synthetic.__main__ import main as generate
from medlake.tables import table_version

SEED_QUERY = """
SELECT name[0].given AS FirstName, name[0].family AS LastName,
       get_json_object(extension[0], '$.valueString') AS MothersMaidenName,
       get_json_object(extension[1], '$.valueAddress.city') AS birthPlace
FROM fhir.patient
"""
TABLES = ["fhir.raw", "fhir.quarantine", "fhir.patient", "fhir.observation"]


def _gzip_one(directory: Path, name: str) -> None:
    plain = directory / name
    with plain.open("rb") as source, gzip.open(f"{plain}.gz", "wb") as target:
        shutil.copyfileobj(source, target)
    plain.unlink()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    assert generate(["--out", str(out), "--patients", "2", "--seed", "7"]) == 0
    _gzip_one(out / "fhir", "Observation.ndjson")  # one gzip file among plain ones
    return out


@pytest.fixture(scope="module")
def loaded(spark: SparkSession, config: MedlakeConfig, generated: Path) -> dict[str, Any]:
    first = run_fhir_ingest(spark, config, [str(generated / "fhir"), str(generated / "bad")])
    versions = {table: table_version(spark, table) for table in TABLES}
    second = run_fhir_ingest(spark, config, [str(generated / "fhir"), str(generated / "bad")])
    return {"first": first, "second": second, "versions": versions}


def _expected_lines(generated: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = json.loads(
        (generated / "expected" / "bad-records.json").read_text())["lines"]
    return lines


def test_counts_add_up_per_run_and_file(spark: SparkSession, loaded: dict[str, Any],
                                        generated: Path) -> None:
    summary: RunSummary = loaded["first"]
    counts = summary.counts
    good = sum(json.loads((generated / "expected" / "fhir.json").read_text()).values())
    lines = _expected_lines(generated)
    bad_reasons = [line for line in lines if line["reason"]]
    assert counts["records_in"] == good + sum(not line["blank"] for line in lines)
    assert counts["records_in"] == counts["loaded"] + counts["duplicates"] + counts["quarantined"]
    reasons = spark.sql("SELECT reason, detail, count(*) AS n FROM fhir.quarantine GROUP BY ALL").collect()
    assert counts["quarantined"] == len(bad_reasons), reasons
    assert counts["blank_lines"] == sum(line["blank"] for line in lines)
    files = spark.table("ops.files").where(F.col("run_id") == summary.run_id).collect()
    assert len(files) == counts["files"] == 12
    assert all(f.records_in == f.loaded + f.duplicates + f.quarantined for f in files)


def test_each_bad_record_gets_its_reason(spark: SparkSession, loaded: dict[str, Any],
                                         generated: Path) -> None:
    uri = (generated / "bad" / "fhir" / "bad-records.ndjson").resolve().as_uri().replace(
        "file:///", "file:/")
    found = {row.position: row.reason for row in
             spark.table("fhir.quarantine").where(F.col("source_uri") == uri).collect()}
    expected = {line["line"]: line["reason"] for line in _expected_lines(generated) if line["reason"]}
    assert found == expected
    path = spark.table("fhir.quarantine").where(
        (F.col("source_uri") == uri) & (F.col("reason") == "schema_roundtrip_mismatch")
    ).select("detail").collect()
    assert any(row.detail.endswith("Patient.favouriteColour") for row in path)


def test_rerun_changes_nothing(spark: SparkSession, loaded: dict[str, Any]) -> None:
    second: RunSummary = loaded["second"]
    assert second.counts["files"] == 0 and second.counts["files_skipped"] == 12
    assert {t: table_version(spark, t) for t in TABLES} == loaded["versions"]


def test_every_loaded_resource_round_trips(spark: SparkSession, loaded: dict[str, Any],
                                           generated: Path) -> None:
    expected = json.loads((generated / "expected" / "fhir.json").read_text())
    for resource_type, count in expected.items():
        table = spark.table(typed_table(resource_type)).where(
            F.col("_source_uri").contains(f"{generated}/fhir/"))
        assert table.count() == count, resource_type
    rows = (
        spark.table("fhir.patient").alias("p")
        .join(spark.table("fhir.raw").alias("r"),
              (F.col("p._source_uri") == F.col("r._source_uri"))
              & (F.col("p._position") == F.col("r._position")))
        .select(F.to_json(F.struct("p.*")).alias("typed"), "r.raw_text").collect()
    )
    paths = json_text_paths(load_schema_json("Patient"))
    assert rows and all(first_difference(r.raw_text, _without_lineage(r.typed), paths, "Patient")
                        is None for r in rows)


def _without_lineage(typed: str) -> str:
    value = json.loads(typed)
    return json.dumps({k: v for k, v in value.items() if k not in LINEAGE_COLUMNS})


def test_decimals_stay_exact(spark: SparkSession, loaded: dict[str, Any]) -> None:
    # get_json_object reads numbers as doubles; the stored JSON text and variant_get keep them exact
    exact = "0.12345678901234567890123"
    rows = spark.sql(
        "SELECT e AS text, variant_get(parse_json(e), '$.valueDecimal', 'decimal(38,23)') AS v "
        "FROM fhir.patient LATERAL VIEW explode(extension) AS e "
        "WHERE get_json_object(e, '$.url') LIKE '%disability-adjusted-life-years'").collect()
    assert any(exact in row.text for row in rows)
    assert Decimal(exact) in {row.v for row in rows}
    heights = spark.sql("SELECT valueQuantity.value AS v FROM fhir.observation "
                        "WHERE valueQuantity.value IS NOT NULL").collect()
    assert heights and all(isinstance(r.v, Decimal) for r in heights)


def test_seed_query_returns_a_row_per_patient(spark: SparkSession, loaded: dict[str, Any]) -> None:
    patients = spark.table("fhir.patient").count()
    assert spark.sql(SEED_QUERY).count() == patients > 0


@pytest.mark.parametrize(
    "older, newer",
    [
        (("2024-01-01T00:00:00Z", "9"), ("2024-01-01T00:00:00Z", "10")),
        (("2024-01-01T01:00:00+01:00", "2"), ("2024-01-01T00:00:00.000Z", "3")),
        (("2024-01-01T00:00:00Z", "99"), ("2024-01-01T00:00:00.5Z", "1")),
        (("2024-01-01T04:59:59Z", "1"), ("2024-01-01T00:00:00-05:00", "1")),
        ((None, "5"), ("2020-01-01T00:00:00Z", "1")),
        (("2024-01-01T00:00:00Z", "abc"), ("2024-01-01T00:00:00Z", "1")),
    ],
)
def test_version_key_orders_versions(spark: SparkSession, older: tuple[str | None, str],
                                     newer: tuple[str | None, str]) -> None:
    schema = "n int, meta struct<lastUpdated: string, versionId: string>"
    df = spark.createDataFrame([(0, (older[0], older[1])), (1, (newer[0], newer[1]))], schema)
    ordered = df.orderBy(F.expr(version_key())).select("n").collect()
    assert [row.n for row in ordered] == [0, 1]


def _patient(resource_id: str, updated: str, version: str, family: str) -> str:
    return json.dumps({"resourceType": "Patient", "id": resource_id,
                       "meta": {"versionId": version, "lastUpdated": updated},
                       "name": [{"family": family}]})


@pytest.fixture(scope="module")
def two_runs(spark: SparkSession, config: MedlakeConfig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two small ingests: versions of ids across files and runs (``a/``, then ``b/``), and one file
    (``c.ndjson``) whose content changes between the runs."""
    root = tmp_path_factory.mktemp("two-runs")
    first, late, changed = root / "a", root / "b", root / "c.ndjson"
    first.mkdir()
    late.mkdir()
    (first / "1.ndjson").write_text("\n".join([
        _patient("v-1", "2024-01-01T00:00:00Z", "9", "Nine"),
        _patient("v-1", "2024-01-01T00:00:00Z", "10", "Ten"),
        _patient("v-2", "2024-01-02T00:00:00+01:00", "1", "Later"),
        _patient("v-2", "2024-01-01T23:30:00Z", "2", "Earlier"),
    ]) + "\n")
    changed.write_text(_patient("c-1", "2024-01-01T00:00:00Z", "1", "Before") + "\n")
    summary = run_fhir_ingest(spark, config, [str(first), str(changed)])
    names = _names(spark)
    (late / "2.ndjson").write_text(_patient("v-1", "2023-12-31T00:00:00Z", "11", "Old") + "\n"
                                   + _patient("v-2", "2024-02-01T00:00:00Z", "3", "New") + "\n")
    changed.write_text(_patient("c-1", "2024-01-02T00:00:00Z", "2", "After") + "\n")
    second = run_fhir_ingest(spark, config, [str(first), str(late), str(changed)])
    return {"first": summary, "first_names": names, "second": second, "second_names": _names(spark)}


def _names(spark: SparkSession) -> dict[str, str]:
    return {r.id: r.family for r in spark.sql(
        "SELECT id, name[0].family AS family FROM fhir.patient WHERE id LIKE 'v-%' OR id = 'c-1'").collect()}


def test_newest_version_wins_across_files_and_runs(two_runs: dict[str, Any]) -> None:
    assert (two_runs["first"].counts["loaded"], two_runs["first"].counts["duplicates"]) == (3, 2)
    assert two_runs["first_names"] == {"v-1": "Ten", "v-2": "Earlier", "c-1": "Before"}
    assert {k: v for k, v in two_runs["second_names"].items() if k.startswith("v-")} == {"v-1": "Ten", "v-2": "New"}


def test_changed_file_is_reprocessed(two_runs: dict[str, Any]) -> None:
    assert (two_runs["second"].counts["files"], two_runs["second"].counts["files_skipped"]) == (2, 1)
    assert two_runs["second_names"]["c-1"] == "After"


def test_lineage_columns_cannot_collide_with_fhir_elements() -> None:
    for resource_type in resource_types():
        names = {field["name"] for field in load_schema_json(resource_type)["fields"]}
        assert not names & set(LINEAGE_COLUMNS), resource_type


def test_rebuild_restores_typed_rows_and_clears_resolved_quarantine(
        spark: SparkSession, config: MedlakeConfig, loaded: dict[str, Any]) -> None:
    rows = sorted(spark.table("fhir.patient").select("id", "_content_hash").collect())
    mismatches = spark.table("fhir.quarantine").where(
        "reason = 'schema_roundtrip_mismatch' AND raw_text LIKE '%\"Patient\"%'").count()
    spark.sql("DELETE FROM fhir.patient")
    # Quarantine rows left by an older schema for records that load now (one per raw record of an id).
    stale = spark.table("fhir.raw").where(f"resource_type = 'Patient' AND id = '{rows[0].id}'")
    stale.selectExpr("_source_uri", "_position", "_position_kind", "'schema_roundtrip_mismatch'",
                     "'an older schema'", "raw_text", "content_hash", "'older-run'", "current_timestamp()") \
        .write.insertInto("fhir.quarantine")
    summary = rebuild_typed_tables(spark, config, ["Patient"])
    assert sorted(spark.table("fhir.patient").select("id", "_content_hash").collect()) == rows
    assert summary.counts["quarantine_resolved"] == stale.count() > 0
    assert spark.table("fhir.quarantine").where("detail = 'an older schema'").count() == 0
    assert spark.table("fhir.quarantine").where(
        "reason = 'schema_roundtrip_mismatch' AND raw_text LIKE '%\"Patient\"%'").count() == mismatches
