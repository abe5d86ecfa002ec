"""Pruning the committed schemas to the shape of the data."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from medlake.fhir.schema import JSON_TEXT_KEY, load_schema
from medlake.fhir.shape import has_doubles, prune_schema, resource_shapes

PATIENTS = [
    '{"resourceType":"Patient","id":"a","name":[{"family":"F","given":["G"]}],'
    '"extension":[{"url":"u","valueString":"x"}]}',
    '{"resourceType":"Patient","id":"b","birthDate":"2001","_birthDate":{"extension":[{"url":"v"}]}}',
    '{"resourceType":"Observation","id":"o","valueQuantity":{"value":1.50,"unit":"mg"}}',
]


@pytest.fixture(scope="module")
def shapes(spark: SparkSession) -> dict[str, str | None]:
    frame = spark.createDataFrame([(text,) for text in PATIENTS], "json string")
    return resource_shapes(frame, F.get_json_object("json", "$.resourceType"), F.col("json"))


def test_one_shape_per_type(shapes: dict[str, str | None]) -> None:
    assert sorted(shapes) == ["Observation", "Patient"]
    assert not has_doubles(shapes["Observation"] or "")


def test_pruned_schema_keeps_what_the_data_uses(spark: SparkSession, shapes: dict[str, str | None]) -> None:
    full = load_schema("Patient")
    pruned = prune_schema(full, shapes["Patient"])
    assert pruned.fieldNames() == ["resourceType", "id", "extension", "name", "birthDate", "_birthDate"]
    name = pruned["name"].dataType.elementType  # type: ignore[attr-defined]
    assert name.fieldNames() == ["family", "given"]
    assert pruned["extension"] == full["extension"]
    assert pruned["extension"].metadata[JSON_TEXT_KEY]
    assert pruned["name"].metadata == full["name"].metadata


def test_data_of_another_kind_keeps_the_full_field(spark: SparkSession) -> None:
    full = load_schema("Patient")
    pruned = prune_schema(full, "OBJECT<name: STRING, resourceType: STRING>")
    assert pruned["name"] == full["name"]


@pytest.mark.parametrize("shape", [None, "OBJECT<`a b`: OBJECT<>>", "VARIANT", "OBJECT<unknown: STRING>"])
def test_unusable_shape_gives_the_full_schema(spark: SparkSession, shape: str | None) -> None:
    assert prune_schema(load_schema("Patient"), shape) == load_schema("Patient")
