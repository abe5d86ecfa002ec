"""FHIR decimals beyond decimal(38,19): loaded with the typed column null and the exact text kept."""

from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from medlake.config import MedlakeConfig
from medlake.fhir.ingest_job import run_fhir_ingest


def _observation(resource_id: str, **values: str) -> str:
    fields = ", ".join(f'"{key}": {value}' for key, value in values.items())
    return ('{"resourceType": "Observation", "id": "%s", "status": "final", '
            '"code": {"text": "decimal test"}, %s}' % (resource_id, fields))


def test_decimals_beyond_the_type_load_with_their_text(spark: SparkSession, config: MedlakeConfig,
                                                       tmp_path: Path) -> None:
    component = '[{"code": {"text": "a"}, "valueQuantity": {"value": 1.5}}, ' \
                '{"code": {"text": "b"}, "valueQuantity": {"value": 12345678901234567890123, "unit": "u"}}]'
    lines = [
        _observation("dec-huge", valueQuantity='{"value": 1.000000000000000000E245, "unit": "g"}'),
        _observation("dec-component", component=component),
        _observation("dec-fraction", valueQuantity='{"value": 0.12345678901234567890123}'),
        '{"resourceType": "Patient", "id": "dec-integer", "multipleBirthInteger": 99999999999999999999}',
    ]
    (tmp_path / "decimals.ndjson").write_text("\n".join(lines) + "\n")

    summary = run_fhir_ingest(spark, config, [str(tmp_path)])

    assert (summary.counts["loaded"], summary.counts["quarantined"]) == (2, 2)
    rows = {row.id: row for row in spark.table("fhir.observation").where(F.col("id").startswith("dec-"))
            .select("id", F.col("valueQuantity.value").alias("value"), F.col("valueQuantity.unit").alias("unit"),
                    F.col("component")[1]["valueQuantity"]["value"].alias("component_value"),
                    "_decimal_text").collect()}
    assert sorted(rows) == ["dec-component", "dec-huge"]
    assert (rows["dec-huge"].value, rows["dec-huge"].unit) == (None, "g")
    assert rows["dec-huge"]._decimal_text == {"valueQuantity.value": "1.000000000000000000E245"}
    assert rows["dec-component"].component_value is None
    assert rows["dec-component"]._decimal_text == {"component[1].valueQuantity.value": "12345678901234567890123"}
    # How a query reads every value exactly, whichever column holds it (README, "FHIR decimals").
    text = spark.sql("""
        SELECT coalesce(CAST(valueQuantity.value AS STRING), _decimal_text['valueQuantity.value']) AS v
        FROM fhir.observation WHERE id = 'dec-huge'""").first()
    assert text.v == "1.000000000000000000E245"
    reasons = {row.raw_id: row.reason for row in spark.table("fhir.quarantine")
               .where(F.col("source_uri").endswith("decimals.ndjson"))
               .select(F.get_json_object("raw_text", "$.id").alias("raw_id"), "reason").collect()}
    assert reasons == {"dec-fraction": "schema_roundtrip_mismatch", "dec-integer": "schema_roundtrip_mismatch"}
    raw = {json.loads(row.raw_text)["id"]: row.raw_text for row in spark.table("fhir.raw")
           .where(F.col("_source_uri").endswith("decimals.ndjson")).collect()}
    assert raw["dec-huge"] == lines[0]
