"""Parse FHIR JSON with Spark into the generated schemas and prove the typed rows lossless."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medlake.fhir.parse import PARSE_ERROR_COLUMN, RESOURCE_COLUMN, parse_resources
from medlake.fhir.roundtrip import ROUNDTRIP_COLUMN, find_roundtrip_mismatches
from medlake.fhir.schema import load_schema
from medlake.fhir.shape import proves_lossless, prune_schema, resource_shapes
from medlake.quarantine import QuarantineReason

# (type, JSON text, parse error, first difference)
NEGATIVE = [
    ("Patient", '{"resourceType":"Patient","foo":{"bar":1}}', None, "Patient.foo"),
    ("Patient", '{"resourceType":"Patient","name":[{"family":"x","foo":"y"}]}', None, "Patient.name.foo"),
    ("Patient", '{"resourceType":"Patient","_birthDate":{"foo":1}}', None, "Patient._birthDate.foo"),
    ("Observation", '{"resourceType":"Observation","valueQuantity":{"value":0.12345678901234567890123}}',
     None, "Observation.valueQuantity.value"),
    ("Patient", '{"resourceType":"Patient","extension":[{"url":"u","valueDecimal":1234567890123456789012345678901234567890.5}]}',
     None, "Patient.extension.valueDecimal"),
    ("Patient", '{"resourceType":"Patient","extension":[{"url":"u","valueDecimal":1.5e400}]}',
     None, "Patient.extension.valueDecimal"),
    ("Patient", '{"resourceType":"Patient","birthDate":19700101}', None, "Patient.birthDate"),
    ("Patient", '{"resourceType":"Patient","multipleBirthInteger":""}',
     QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH, "Patient.multipleBirthInteger"),
    ("Patient", '{"resourceType":"Patient","multipleBirthInteger":2147483648}',
     QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH, "Patient.multipleBirthInteger"),
    ("Patient", '{"resourceType":"Patient","active":"yes"}',
     QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH, "Patient.active"),
    ("Patient", '{"resourceType":"Patient",', QuarantineReason.INVALID_JSON, "Patient"),
    ("Patient", '[{"resourceType":"Patient"}]', QuarantineReason.NOT_A_RESOURCE, "Patient"),
    ("Patient", '{"id":"x"}', QuarantineReason.NOT_A_RESOURCE, None),
    ("Patient", '{"resourceType":"Observation","id":"x"}', QuarantineReason.UNKNOWN_RESOURCE_TYPE, None),
]


EXAMPLES = Path(__file__).with_name("lossless_examples.ndjson")
LINES = EXAMPLES.read_text(encoding="utf-8").splitlines()


def _frame(spark: SparkSession, texts: list[str]) -> DataFrame:
    return spark.createDataFrame([(i, text) for i, text in enumerate(texts)], "n int, json string")


def _checked(spark: SparkSession, resource_type: str, texts: list[str], **options: Any) -> DataFrame:
    parsed = parse_resources(_frame(spark, texts), resource_type, "json", **options)
    return find_roundtrip_mismatches(parsed, resource_type, "json", RESOURCE_COLUMN)


def _checked_as_ingested(spark: SparkSession, resource_type: str, texts: list[str]) -> DataFrame:
    """The ingest's way: the schema pruned to the batch's shape, compared only if not proven."""
    frame = _frame(spark, texts)
    shape = resource_shapes(frame, F.lit(resource_type), F.col("json"), F.lit("file"))[resource_type].overall
    schema = prune_schema(load_schema(resource_type), shape)
    parsed = parse_resources(frame, resource_type, "json", schema=schema)
    return find_roundtrip_mismatches(parsed, resource_type, "json", RESOURCE_COLUMN,
                                     where=F.lit(not proves_lossless(schema, shape)))


def _resource_type(text: str) -> str:
    return str(json.loads(text)["resourceType"])


Outcome = tuple[str | None, str | None]


@pytest.fixture(scope="module", params=[_checked, _checked_as_ingested], ids=["full", "as_ingested"])
def outcomes(spark: SparkSession, request: pytest.FixtureRequest) -> Callable[[str, str], Outcome]:
    """Parse error and first difference of an example, both ways; one Spark job per resource type."""
    checked = request.param
    cases = [(_resource_type(line), line) for line in LINES]
    cases += [(resource_type, text) for resource_type, text, _, _ in NEGATIVE]
    by_type: dict[str, dict[str, Outcome]] = {}

    def outcome(resource_type: str, text: str) -> Outcome:
        if resource_type not in by_type:
            texts = [t for rt, t in cases if rt == resource_type]
            rows = checked(spark, resource_type, texts).collect()
            by_type[resource_type] = {
                row.json: (row[PARSE_ERROR_COLUMN], row[ROUNDTRIP_COLUMN]) for row in rows
            }
        return by_type[resource_type][text]

    return outcome


# The widest type takes Spark's code generator tens of seconds (see medlake.fhir.parse).
WIDE = {"StructureDefinition"}


@pytest.mark.parametrize(
    "line",
    [pytest.param(line, marks=[pytest.mark.slow] if _resource_type(line) in WIDE else [])
     for line in LINES],
    ids=[json.loads(line)["id"] for line in LINES],
)
def test_examples_round_trip_losslessly(outcomes: Callable[[str, str], Outcome], line: str) -> None:
    assert outcomes(_resource_type(line), line) == (None, None)


def test_typed_columns_hold_exact_values(spark: SparkSession) -> None:
    patient, _, observation = LINES[:3]
    row = parse_resources(_frame(spark, [patient]), "Patient", "json").select(
        F.col("resource.birthDate"),
        F.col("resource.multipleBirthInteger"),
        F.col("resource.name")[0]["_given"][1]["extension"][0].alias("given_extension"),
        F.get_json_object(F.col("resource.extension")[0], "$.valueString").alias("maiden_name"),
        F.get_json_object(F.col("resource.extension")[1], "$.valueAddress.city").alias("birth_place"),
        F.expr("variant_get(parse_json(resource.extension[2]), '$.extension[1].valueDecimal',"
               " 'decimal(38,19)')").alias("ratio"),
        F.col("resource.extension")[2].contains(":0.1234567890123456789}").alias("exact_text"),
    ).head()
    assert row is not None
    assert row.asDict() == {
        "birthDate": "2015-05",
        "multipleBirthInteger": 2147483647,
        "given_extension": '{"url":"http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier",'
                           '"valueCode":"CL"}',
        "maiden_name": "Example",
        "birth_place": "Springfield",
        "ratio": Decimal("0.1234567890123456789"),
        "exact_text": True,
    }
    obs = parse_resources(_frame(spark, [observation]), "Observation", "json").select(
        "resource.valueQuantity.value", F.col("resource.referenceRange")[0]["low"]["value"].alias("low")
    ).head()
    assert obs is not None
    assert (obs.value, obs.low) == (Decimal("1.5"), Decimal("0.1234567890123456789"))


@pytest.mark.parametrize("resource_type, text, error, difference", NEGATIVE)
def test_records_that_do_not_fit_are_flagged(
    outcomes: Callable[[str, str], Outcome],
    resource_type: str,
    text: str,
    error: str | None,
    difference: str | None,
) -> None:
    assert outcomes(resource_type, text) == (error, difference)


def test_string_beyond_the_reader_limit_is_flagged_not_nulled(spark: SparkSession) -> None:
    text = '{"resourceType":"Binary","contentType":"application/pdf","data":"%s"}' % ("QUFB" * 300)
    too_small = _checked(spark, "Binary", [text], max_string_length=1000).head()
    assert too_small is not None
    assert too_small[PARSE_ERROR_COLUMN] == QuarantineReason.VALUE_TOO_LARGE
    assert too_small[ROUNDTRIP_COLUMN] == "Binary.data"
    large_enough = _checked(spark, "Binary", [text], max_string_length=2000).head()
    assert large_enough is not None
    assert (large_enough[PARSE_ERROR_COLUMN], large_enough[ROUNDTRIP_COLUMN]) == (None, None)
    assert large_enough[RESOURCE_COLUMN]["data"] == "QUFB" * 300


# Rows equal by value whose form differs: a shape proves them, or the comparison accepts them.
FORM_ONLY = [
    '{"resourceType":"Observation","valueQuantity":{"value":0}}',
    '{"resourceType":"Observation","valueQuantity":{"value":1e2}}',
    '{"resourceType":"Observation","valueQuantity":{"value":1.50},"status":"final"}',
    '{"resourceType":"Observation","status":"final","note":null}',
    '{"resourceType":"Observation","status":"final","code":{}}',
]


@pytest.mark.parametrize("text", FORM_ONLY)
def test_rows_equal_by_value_load_both_ways(spark: SparkSession, text: str) -> None:
    for checked in (_checked, _checked_as_ingested):
        rows = checked(spark, "Observation", [text]).collect()
        assert [(row[PARSE_ERROR_COLUMN], row[ROUNDTRIP_COLUMN]) for row in rows] == [(None, None)]


# Records that parse but lose a value: only the comparison can catch them, so no shape may prove them.
@pytest.mark.parametrize("resource_type, text, error, difference",
                         [case for case in NEGATIVE if case[2] is None and case[3] is not None])
def test_a_lossy_record_never_has_a_proven_shape(
    spark: SparkSession, resource_type: str, text: str, error: str | None, difference: str
) -> None:
    shapes = resource_shapes(_frame(spark, [text]), F.lit(resource_type), F.col("json"), F.lit("file"))
    shape = shapes[resource_type].overall if shapes else None
    assert not proves_lossless(load_schema(resource_type), shape)


def test_realistic_examples_are_proven_by_their_shape(spark: SparkSession) -> None:
    by_type: dict[str, list[str]] = {}
    for line in LINES:
        by_type.setdefault(_resource_type(line), []).append(line)
    unproven = [
        resource_type for resource_type, texts in sorted(by_type.items())
        if resource_type not in WIDE and not proves_lossless(
            load_schema(resource_type),
            resource_shapes(_frame(spark, texts), F.lit(resource_type), F.col("json"), F.lit("f"))[resource_type].overall)
    ]
    assert unproven == []
