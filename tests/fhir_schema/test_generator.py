"""The generated catalogue: drift, Spark-readability, rules, budget and the loading API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.types import StructType

from medlake.fhir.schema import (
    CATALOG_FILE,
    COMMENT_KEY,
    JSON_TEXT_KEY,
    MAX_LEAVES,
    MAX_NESTING_DEPTH,
    SCHEMAS_DIR_ENV,
    generate_schema,
    json_text_paths,
    load_schema,
    load_schema_json,
    main,
    resource_types,
    schemas_dir,
)

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "fhir"


def _leaves(data_type: Any) -> Iterator[tuple[str, ...]]:
    """Yield the name path of every leaf of a schema dict (arrays are transparent)."""
    if isinstance(data_type, dict) and data_type["type"] == "array":
        yield from _leaves(data_type["elementType"])
    elif isinstance(data_type, dict) and data_type["type"] == "struct":
        for field in data_type["fields"]:
            yield from (((field["name"], *rest)) for rest in _leaves(field["type"]))
    else:
        yield ()


def _depth(data_type: Any) -> int:
    if isinstance(data_type, dict) and data_type["type"] == "array":
        return _depth(data_type["elementType"])
    if isinstance(data_type, dict) and data_type["type"] == "struct":
        return 1 + max(_depth(field["type"]) for field in data_type["fields"])
    return 0


def _structs(data_type: Any) -> Iterator[list[dict[str, Any]]]:
    if isinstance(data_type, dict) and data_type["type"] == "array":
        yield from _structs(data_type["elementType"])
    elif isinstance(data_type, dict) and data_type["type"] == "struct":
        yield data_type["fields"]
        for field in data_type["fields"]:
            yield from _structs(field["type"])


def _field(schema: StructType, dotted: str) -> Any:
    data_type: Any = schema
    field = None
    for name in dotted.split("."):
        while hasattr(data_type, "elementType"):
            data_type = data_type.elementType
        field = data_type[name]
        data_type = field.dataType
    return field


def test_regenerating_gives_the_committed_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--output", str(tmp_path)]) == 0
    generated = sorted(p.name for p in tmp_path.iterdir())
    assert generated == sorted(p.name for p in COMMITTED.iterdir())
    assert len(generated) == 146 + 1
    for name in generated:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name
    printed = capsys.readouterr().out.split()
    assert printed[printed.index("StructureDefinition") + 1:][:2] == ["18827", "11"]


def test_resource_types_are_the_146_concrete_types() -> None:
    types = resource_types()
    assert len(types) == 146
    assert types == sorted(types)
    assert {"Patient", "MedicinalProduct", "SubstanceSpecification", "EffectEvidenceSynthesis"} <= set(types)
    assert not {"Resource", "DomainResource"} & set(types)


@pytest.mark.parametrize("resource_type", resource_types())
def test_schema_parses_with_spark_and_follows_the_rules(resource_type: str) -> None:
    schema_json = json.loads((COMMITTED / f"{resource_type}.json").read_text(encoding="utf-8"))
    schema = StructType.fromJson(schema_json)
    assert schema.jsonValue() == schema_json
    assert schema.fieldNames()[0] == "resourceType"
    for fields in _structs(schema_json):
        names = [field["name"].lower() for field in fields]
        assert len(names) == len(set(names)), f"case-colliding columns in {resource_type}"
    leaves = list(_leaves(schema_json))
    assert len(leaves) <= MAX_LEAVES
    assert _depth(schema_json) <= MAX_NESTING_DEPTH
    top = {field["name"]: field for field in schema_json["fields"]}
    for name in ("extension", "modifierExtension", "contained"):
        if name in top:
            assert top[name]["type"] == {"type": "array", "elementType": "string", "containsNull": True}
            assert top[name]["metadata"][JSON_TEXT_KEY] is True


# The five widest types and two common ones at the default recursion depth.
LEAF_COUNTS = [
    ("StructureDefinition", 18827, 11),
    ("Task", 5549, 9),
    ("ExplanationOfBenefit", 3941, 9),
    ("Contract", 3437, 9),
    ("StructureMap", 2726, 11),
    ("Observation", 1650, 7),
    ("Patient", 645, 7),
]


@pytest.mark.parametrize("resource_type, leaves, depth", LEAF_COUNTS)
def test_leaf_count_and_depth(resource_type: str, leaves: int, depth: int) -> None:
    schema_json = load_schema_json(resource_type)
    assert (len(list(_leaves(schema_json))), _depth(schema_json)) == (leaves, depth)


def test_budget_holds_for_every_type_and_depth_2_would_break_it() -> None:
    widest = max(len(list(_leaves(load_schema_json(t)))) for t in resource_types())
    assert widest <= MAX_LEAVES
    deeper = generate_schema("StructureDefinition", max_recursion_depth=2)
    assert len(list(_leaves(deeper))) > MAX_LEAVES


# (type, column path, Spark type, JSON text)
RULES = [
    ("Patient", "deceasedBoolean", "boolean", False),
    ("Patient", "deceasedDateTime", "string", False),
    ("Patient", "_deceasedDateTime", "struct<id:string,extension:array<string>>", False),
    ("Patient", "birthDate", "string", False),
    ("Patient", "multipleBirthInteger", "int", False),
    ("Patient", "name.given", "array<string>", False),
    ("Patient", "name._given", "array<struct<id:string,extension:array<string>>>", False),
    ("Patient", "name._given.extension", "array<string>", True),
    ("Patient", "extension", "array<string>", True),
    ("Patient", "contact.modifierExtension", "array<string>", True),
    ("Patient", "identifier.assigner.display", "string", False),
    ("Patient", "identifier.assigner.identifier", "string", True),
    ("Patient", "text.div", "string", False),
    ("Observation", "valueQuantity.value", "decimal(38,19)", False),
    ("Observation", "component.valueInteger", "int", False),
    ("Observation", "effectiveInstant", "string", False),
    ("ImmunizationRecommendation", "recommendation.doseNumberPositiveInt", "int", False),
    ("QuestionnaireResponse", "item.linkId", "string", False),
    ("QuestionnaireResponse", "item.item", "array<string>", True),
    ("QuestionnaireResponse", "item.answer.item", "array<string>", True),
    ("CodeSystem", "concept.concept", "array<string>", True),
    ("Bundle", "entry.resource", "string", True),
    ("Parameters", "parameter.resource", "string", True),
]


@pytest.mark.parametrize("resource_type, path, spark_type, json_text", RULES)
def test_column_rules(resource_type: str, path: str, spark_type: str, json_text: bool) -> None:
    field = _field(load_schema(resource_type), path)
    assert field.dataType.simpleString() == spark_type
    assert bool(field.metadata.get(JSON_TEXT_KEY)) is json_text
    assert field.metadata[COMMENT_KEY]
    assert (tuple(path.split(".")) in json_text_paths(load_schema(resource_type))) is json_text


def test_xml_attributes_get_no_extension_sibling() -> None:
    names = load_schema("Patient")["name"].dataType.elementType.fieldNames()
    assert names[:2] == ["id", "extension"]
    assert "_id" not in names


def test_deeper_recursion_expands_one_more_level() -> None:
    schema = StructType.fromJson(generate_schema("QuestionnaireResponse", max_recursion_depth=2))
    assert _field(schema, "item.item.linkId").dataType.simpleString() == "string"
    assert _field(schema, "item.item.item").metadata[JSON_TEXT_KEY] is True


def test_catalog_lists_types_and_columns() -> None:
    catalog = (COMMITTED / CATALOG_FILE).read_text(encoding="utf-8")
    assert len(catalog.encode()) < 5_000_000
    assert "| `deceasedBoolean` | boolean | boolean | 0..1 | Indicates if the individual is deceased or not |" in catalog
    assert "| `item.item` | array<string> | #QuestionnaireResponse.item (JSON text, recursion cut) |" in catalog
    assert catalog.count("\n### ") > 146


@pytest.mark.parametrize("bad", ["patient", "Resource", "DomainResource", "Nope"])
def test_unknown_type_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="not one of the 146 concrete FHIR R4 resource types"):
        load_schema(bad)
    with pytest.raises(ValueError, match="not one of the 146 concrete"):
        generate_schema(bad)


def test_depth_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="below 1"):
        generate_schema("Patient", max_recursion_depth=0)


def test_schemas_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert schemas_dir() == COMMITTED
    only_resource_type = {"type": "struct", "fields": [
        {"name": "resourceType", "type": "string", "nullable": True, "metadata": {}}]}
    (tmp_path / "Patient.json").write_text(json.dumps(only_resource_type), encoding="utf-8")
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(tmp_path))
    assert schemas_dir() == tmp_path
    assert load_schema("Patient").fieldNames() == ["resourceType"]
    assert load_schema_json("Patient") == only_resource_type


def test_generator_and_round_trip_core_do_not_import_pyspark() -> None:
    code = (
        "import sys\n"
        "from medlake.fhir.schema import generate_schema, json_text_paths, load_schema_json\n"
        "from medlake.fhir.roundtrip import first_difference\n"
        "paths = json_text_paths(generate_schema('Patient'))\n"
        "assert first_difference('{\"a\":1}', '{\"a\":1}', paths, 'Patient') is None\n"
        "assert load_schema_json('Patient')['fields'][0]['name'] == 'resourceType'\n"
        "assert 'pyspark' not in sys.modules, 'pyspark was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
