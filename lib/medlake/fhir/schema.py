"""The FHIR R4 data catalogue: one Spark schema per concrete resource type, generated and committed.

``python -m medlake.fhir.schema`` regenerates ``schemas/fhir/<Type>.json`` (146 files, each
``StructType.jsonValue()`` JSON, ``resourceType`` first) and ``schemas/fhir/CATALOG.md`` from the
vendored StructureDefinitions, printing each type's leaf count and nesting depth. The rules are
those of :mod:`medlake.fhir.columns`. Each field's metadata carries the FHIR short description
under ``comment`` (Spark and Delta use it as the column comment) and ``fhir_json_text: true`` on
fields holding JSON text (``extension``, ``modifierExtension``, ``contained``, ``Resource``-typed
elements and recursion cuts), so that readers find them without re-deriving the rules.

Recursion depth
---------------
The default :data:`DEFAULT_MAX_RECURSION_DEPTH` is 1: one level of each recursive structure becomes
columns (``QuestionnaireResponse.item``, ``CodeSystem.concept``, ``Identifier.assigner``), and the
next level (``item.item``, ``concept.concept``, ``assigner.identifier``) is kept as JSON text. These
structures nest to any depth, so every fixed cut keeps some levels as text; what lies below the cut
is never lost (the round-trip check proves it) and stays queryable with ``get_json_object`` or
``from_json``. Each further level is expensive: depth 2 grows the catalogue from 139 327 to
211 165 leaves (Contract 3 437 → 8 355, QuestionnaireResponse 601 → 1 427, StructureDefinition
18 827 → 22 675) for one more level of rarely nested branches.

Budget
------
:data:`MAX_LEAVES` (20 000) and :data:`MAX_NESTING_DEPTH` (12) bound every type; the widest,
StructureDefinition, has 18 827 leaves and depth 11 at the default. Spark and Delta set no hard
limit, but every leaf is a Parquet column chunk in every row group (footer metadata and write
buffers grow with it) and Delta keeps the whole schema string in its log, so the budget keeps a
change of rules or depth from silently multiplying the width (depth 2 would exceed it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medlake.fhir.catalog import render_catalog
from medlake.fhir.columns import (
    DEFAULT_MAX_RECURSION_DEPTH,
    MAX_LEAVES,
    MAX_NESTING_DEPTH,
    Column,
    leaf_count,
    nesting_depth,
    resource_columns,
)
from medlake.fhir.definitions import load_definitions
from medlake.spark_defaults import project_root

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

__all__ = [
    "DEFAULT_MAX_RECURSION_DEPTH",
    "MAX_LEAVES",
    "MAX_NESTING_DEPTH",
    "COMMENT_KEY",
    "JSON_TEXT_KEY",
    "SCHEMAS_DIR_ENV",
    "CATALOG_FILE",
    "SchemaStats",
    "resource_types",
    "generate_schema",
    "schemas_dir",
    "load_schema_json",
    "load_schema",
    "json_text_paths",
    "decimal_paths",
    "write_schemas",
    "main",
]

#: Field metadata key of the FHIR short description; Spark and Delta read it as column comment.
COMMENT_KEY = "comment"
#: Field metadata key marking fields (or array elements) that hold JSON text.
JSON_TEXT_KEY = "fhir_json_text"
#: Environment variable naming the folder of the committed schemas.
SCHEMAS_DIR_ENV = "MEDLAKE_SCHEMAS_DIR"
#: Name of the human-readable catalogue next to the schemas.
CATALOG_FILE = "CATALOG.md"

_SCHEMA_SUFFIX = ".json"
#: ``lib/medlake/fhir/schema.py`` → project root → ``schemas/fhir``.
_DEFAULT_SCHEMAS_DIR = project_root() / "schemas" / "fhir"


@dataclass(frozen=True)
class SchemaStats:
    """Size of one generated schema."""

    resource_type: str
    leaves: int
    nesting_depth: int


def resource_types() -> list[str]:
    """Return the 146 concrete FHIR R4 resource type names, sorted.

    Examples
    --------
    >>> types = resource_types()
    >>> len(types), types[0], types[-1]
    (146, 'Account', 'VisionPrescription')
    """
    return load_definitions().resource_types


def _check_resource_type(resource_type: str) -> None:
    if resource_type not in load_definitions().resources or (
        load_definitions().resources[resource_type].abstract
    ):
        raise ValueError(
            f"Unable to find a schema for '{resource_type}' as it is not one of the 146 concrete "
            "FHIR R4 resource types (names are case-sensitive, e.g. 'Patient')"
        )


def _field(column: Column) -> dict[str, Any]:
    data_type: Any = (
        {"type": "struct", "fields": [_field(child) for child in column.children]}
        if column.children
        else column.spark_type
    )
    if column.repeated:
        data_type = {"type": "array", "elementType": data_type, "containsNull": True}
    metadata: dict[str, Any] = {COMMENT_KEY: column.short} if column.short else {}
    if column.json_text:
        metadata[JSON_TEXT_KEY] = True
    return {"name": column.name, "type": data_type, "nullable": True, "metadata": metadata}


def _schema_json(columns: Sequence[Column]) -> dict[str, Any]:
    return {"type": "struct", "fields": [_field(column) for column in columns]}


def _schema_file_text(columns: Sequence[Column]) -> str:
    """Compact JSON with one top-level column per line, so diffs show which column changed."""
    fields = ",\n".join(
        json.dumps(_field(column), ensure_ascii=False, separators=(",", ":")) for column in columns
    )
    return f'{{"type":"struct","fields":[\n{fields}\n]}}\n'


def generate_schema(
    resource_type: str, max_recursion_depth: int = DEFAULT_MAX_RECURSION_DEPTH
) -> dict[str, Any]:
    """Generate the Spark schema of ``resource_type`` from the FHIR definitions.

    Parameters
    ----------
    resource_type
        A concrete resource type, e.g. ``Patient``.
    max_recursion_depth
        Nested levels of one recursive structure that become columns.

    Returns
    -------
    dict[str, Any]
        The schema as ``StructType.jsonValue()`` would give it.

    Raises
    ------
    ValueError
        If ``resource_type`` is not a concrete resource type or the depth is below 1.

    Examples
    --------
    >>> schema = generate_schema("Patient")
    >>> [field["name"] for field in schema["fields"][:3]]
    ['resourceType', 'id', '_id']
    """
    _check_resource_type(resource_type)
    return _schema_json(resource_columns(load_definitions(), resource_type, max_recursion_depth))


def schemas_dir() -> Path:
    """Return the folder of the committed schemas: ``$MEDLAKE_SCHEMAS_DIR`` or ``schemas/fhir``."""
    configured = os.environ.get(SCHEMAS_DIR_ENV)
    return Path(configured) if configured else _DEFAULT_SCHEMAS_DIR


@lru_cache(maxsize=None)
def _schema_text(directory: Path, resource_type: str) -> str:
    return (directory / f"{resource_type}{_SCHEMA_SUFFIX}").read_text(encoding="utf-8")


def load_schema_json(resource_type: str) -> dict[str, Any]:
    """Read the committed schema of ``resource_type`` as a plain dict (no PySpark needed).

    Raises
    ------
    ValueError
        If ``resource_type`` is not a concrete resource type.
    FileNotFoundError
        If the schema file is missing from :func:`schemas_dir`.

    Examples
    --------
    >>> load_schema_json("Observation")["fields"][0]["name"]
    'resourceType'
    """
    _check_resource_type(resource_type)
    result: dict[str, Any] = json.loads(_schema_text(schemas_dir(), resource_type))
    return result


@lru_cache(maxsize=None)
def _load_struct_type(directory: Path, resource_type: str) -> StructType:
    from pyspark.sql.types import StructType

    return StructType.fromJson(json.loads(_schema_text(directory, resource_type)))


def load_schema(resource_type: str) -> StructType:
    """Read the committed schema of ``resource_type`` as a Spark ``StructType`` (cached).

    Raises
    ------
    ValueError
        If ``resource_type`` is not a concrete resource type.
    FileNotFoundError
        If the schema file is missing from :func:`schemas_dir`.

    Examples
    --------
    >>> load_schema("Patient")["birthDate"].dataType.simpleString()
    'string'
    """
    _check_resource_type(resource_type)
    return _load_struct_type(schemas_dir(), resource_type)


def _field_paths(
    data_type: Any, prefix: tuple[str, ...], leaf: Callable[[Mapping[str, Any]], bool]
) -> Iterable[tuple[str, ...]]:
    """Yield the paths of the fields ``leaf`` accepts, not descending into JSON-text fields."""
    if isinstance(data_type, Mapping) and data_type.get("type") == "array":
        yield from _field_paths(data_type["elementType"], prefix, leaf)
    elif isinstance(data_type, Mapping) and data_type.get("type") == "struct":
        for field in data_type["fields"]:
            path = (*prefix, field["name"])
            if leaf(field):
                yield path
            elif not field.get("metadata", {}).get(JSON_TEXT_KEY):
                yield from _field_paths(field["type"], path, leaf)


def json_text_paths(schema: StructType | Mapping[str, Any]) -> frozenset[tuple[str, ...]]:
    """Return the field-name paths of the JSON-text fields of ``schema`` (arrays are transparent).

    Parameters
    ----------
    schema
        A ``StructType`` or its ``jsonValue()`` dict.

    Examples
    --------
    >>> paths = json_text_paths(load_schema_json("Patient"))
    >>> ("extension",) in paths, ("name", "_given", "extension") in paths
    (True, True)
    """
    data_type = schema if isinstance(schema, Mapping) else schema.jsonValue()
    return frozenset(_field_paths(data_type, (), lambda field: bool(field.get("metadata", {}).get(JSON_TEXT_KEY))))


def decimal_paths(schema: StructType | Mapping[str, Any]) -> frozenset[tuple[str, ...]]:
    """Return the field-name paths of the ``decimal`` fields of ``schema`` (arrays are transparent).

    Examples
    --------
    >>> ("valueQuantity", "value") in decimal_paths(load_schema_json("Observation"))
    True
    """
    data_type = schema if isinstance(schema, Mapping) else schema.jsonValue()
    return frozenset(_field_paths(data_type, (), lambda field: str(field["type"]).startswith("decimal(")))


def write_schemas(
    directory: Path, max_recursion_depth: int = DEFAULT_MAX_RECURSION_DEPTH
) -> list[SchemaStats]:
    """Write every type's schema and the catalogue into ``directory``.

    Returns
    -------
    list[SchemaStats]
        Leaf count and nesting depth per type, in type order.
    """
    directory.mkdir(parents=True, exist_ok=True)
    definitions = load_definitions()
    stats = []
    tables = {}
    for resource_type in definitions.resource_types:
        columns = resource_columns(definitions, resource_type, max_recursion_depth)
        (directory / f"{resource_type}{_SCHEMA_SUFFIX}").write_text(
            _schema_file_text(columns), encoding="utf-8"
        )
        stats.append(SchemaStats(resource_type, leaf_count(columns), nesting_depth(columns)))
        tables[resource_type] = columns
    catalog = render_catalog(tables, max_recursion_depth)
    (directory / CATALOG_FILE).write_text(catalog, encoding="utf-8")
    return stats


def main(argv: list[str] | None = None) -> int:
    """Regenerate the schemas and print each type's leaf count and nesting depth."""
    parser = argparse.ArgumentParser(
        prog="python -m medlake.fhir.schema", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--output", type=Path, default=_DEFAULT_SCHEMAS_DIR,
                        help="folder to write into (default: the project's schemas/fhir)")
    parser.add_argument("--max-recursion-depth", type=int, default=DEFAULT_MAX_RECURSION_DEPTH,
                        help="nested levels of a recursive structure that become columns "
                             f"(default {DEFAULT_MAX_RECURSION_DEPTH})")
    args = parser.parse_args(argv)
    if args.max_recursion_depth < 1:
        parser.error("--max-recursion-depth must be at least 1")
    stats = write_schemas(args.output, args.max_recursion_depth)
    print(f"{'type':<40} {'leaves':>7} {'depth':>5}")
    for item in stats:
        print(f"{item.resource_type:<40} {item.leaves:>7} {item.nesting_depth:>5}")
    over = [s.resource_type for s in stats
            if s.leaves > MAX_LEAVES or s.nesting_depth > MAX_NESTING_DEPTH]
    print(f"{len(stats)} schemas, {sum(s.leaves for s in stats)} leaves, written to {args.output}")
    if over:
        print(f"over budget ({MAX_LEAVES} leaves, depth {MAX_NESTING_DEPTH}): {', '.join(over)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
