"""Pruning the committed schemas to the shape of the data."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from medlake.fhir.schema import JSON_TEXT_KEY, load_schema
from medlake.fhir.shape import Shapes, prune_schema, proves_lossless, resource_shapes

PATIENTS = [
    '{"resourceType":"Patient","id":"a","name":[{"family":"F","given":["G"]}],'
    '"extension":[{"url":"u","valueString":"x"}]}',
    '{"resourceType":"Patient","id":"b","birthDate":"2001","_birthDate":{"extension":[{"url":"v"}]}}',
    '{"resourceType":"Observation","id":"o","valueQuantity":{"value":1.50,"unit":"mg"}}',
]


@pytest.fixture(scope="module")
def shapes(spark: SparkSession) -> dict[str, Shapes]:
    frame = spark.createDataFrame([(text, f"file{i % 2}") for i, text in enumerate(PATIENTS)],
                                  "json string, file string")
    return resource_shapes(frame, F.get_json_object("json", "$.resourceType"), F.col("json"), F.col("file"))


def test_one_shape_per_type_and_file(shapes: dict[str, Shapes]) -> None:
    assert {name: shape.records for name, shape in shapes.items()} == {"Observation": 1, "Patient": 2}
    assert sorted(shapes["Patient"].by_file) == ["file0", "file1"]
    assert list(shapes["Observation"].by_file) == ["file0"]
    assert shapes["Observation"].overall == shapes["Observation"].by_file["file0"]
    assert proves_lossless(load_schema("Observation"), shapes["Observation"].overall)


def test_pruned_schema_keeps_what_the_data_uses(spark: SparkSession, shapes: dict[str, Shapes]) -> None:
    full = load_schema("Patient")
    pruned = prune_schema(full, shapes["Patient"].overall)
    assert pruned.fieldNames() == ["resourceType", "id", "extension", "name", "birthDate", "_birthDate"]
    name = pruned["name"].dataType.elementType  # type: ignore[attr-defined]
    assert name.fieldNames() == ["family", "given"]
    assert pruned["extension"] == full["extension"]
    assert pruned["extension"].metadata[JSON_TEXT_KEY]
    assert pruned["name"].metadata == full["name"].metadata


@pytest.mark.parametrize("name_shape", ["STRING", "ARRAY<OBJECT<>>", "ARRAY<OBJECT<unknown: STRING>>"])
def test_data_of_another_kind_keeps_the_full_field(spark: SparkSession, name_shape: str) -> None:
    full = load_schema("Patient")
    pruned = prune_schema(full, f"OBJECT<name: {name_shape}, resourceType: STRING>")
    assert pruned["name"] == full["name"]


# (shape, proven): kinds that Spark's reader would change or round, and keys the schema lacks.
PROOFS = [
    ("OBJECT<status: STRING, valueQuantity: OBJECT<value: DECIMAL(21,19)>>", True),
    ("OBJECT<valueQuantity: OBJECT<value: DECIMAL(21,20)>>", False),
    ("OBJECT<valueQuantity: OBJECT<value: BIGINT>, valueInteger: BIGINT>", True),
    ("OBJECT<valueQuantity: OBJECT<value: STRING>>", False),
    ("OBJECT<valueInteger: STRING>", False),
    ("OBJECT<status: BIGINT>", False),
    ("OBJECT<valueBoolean: BOOLEAN, note: VOID, code: OBJECT<>>", True),
    ("OBJECT<extension: ARRAY<OBJECT<url: STRING, valueDecimal: DECIMAL(38,30)>>>", True),
    ("OBJECT<extension: ARRAY<OBJECT<url: STRING, valueDecimal: DOUBLE>>>", False),
    ("OBJECT<status: VARIANT>", False),
    ("OBJECT<precision: BIGINT>", False),
    ("OBJECT<code: ARRAY<OBJECT<text: STRING>>>", False),
]


@pytest.mark.parametrize("shape, proven", PROOFS)
def test_a_shape_proves_only_exact_parsing(spark: SparkSession, shape: str, proven: bool) -> None:
    assert proves_lossless(load_schema("Observation"), shape) is proven


@pytest.mark.parametrize("shape", [None, "OBJECT<`a b`: OBJECT<>>", "VARIANT", "OBJECT<unknown: STRING>"])
def test_unusable_shape_gives_the_full_schema(spark: SparkSession, shape: str | None) -> None:
    assert prune_schema(load_schema("Patient"), shape) == load_schema("Patient")
