"""The columns a batch of resources really uses: the committed schema pruned to the data's shape.

A type's committed schema is wide (Observation has 1 650 leaves), while a batch of resources fills
a few dozen of them. Parsing and writing the full width costs most of an ingest: Spark compiles
and evaluates every field of the schema for every row, and the Parquet writer keeps a column chunk
per leaf. Delta reads the columns a data file lacks as null, so a file needs only the columns its
rows use.

:func:`resource_shapes` asks Spark, in one aggregation over all records, for the shape of each
type's JSON (``schema_of_variant_agg``: every object key and array element type seen);
:func:`prune_schema` keeps the committed fields that appear in it. Fields the data has but the
schema lacks are not added: the round-trip check (:mod:`medlake.fhir.roundtrip`) reports them,
just as with the full schema. Parsing with the pruned schema gives the same values as parsing with
the full one, for every row of the batch.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from medlake.fhir.schema import JSON_TEXT_KEY

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType, StructType

__all__ = ["VARIANT_DOUBLE", "has_doubles", "prune_schema", "resource_shapes"]

LOGGER = logging.getLogger(__name__)

#: How ``schema_of_variant`` names a JSON object; Spark's DDL calls it a struct.
_OBJECT, _STRUCT = "OBJECT<", "STRUCT<"
#: A variant holds a number as a double only when JSON gives it an exponent or more than 38 digits.
VARIANT_DOUBLE = "DOUBLE"
#: How ``schema_of_variant_agg`` names a value whose records disagree on its kind.
_MIXED = "VARIANT"


def resource_shapes(records: DataFrame, type_column: Column, json_column: Column) -> dict[str, str | None]:
    """Return the ``schema_of_variant_agg`` shape of each type's JSON, in one Spark job.

    Parameters
    ----------
    records
        Rows with a resource type and the resource's JSON text (valid JSON objects).
    type_column, json_column
        The resource type and the JSON text.

    Returns
    -------
    dict[str, str | None]
        Shape per type present, e.g. ``OBJECT<id: STRING, valueQuantity: OBJECT<value:
        DECIMAL(3,2)>>`` (None if no record of the type is valid JSON).
    """
    from pyspark.sql import functions as F

    rows = (records.groupBy(type_column.alias("type"))
            .agg(F.schema_of_variant_agg(F.try_parse_json(json_column)).alias("shape")).collect())
    return {row["type"]: row["shape"] for row in rows}


def has_doubles(shape: str) -> bool:
    """Whether some value of the shape may be a double (an exponent, or beyond 38 digits).

    Where records disagree on a value's kind (a string here, a number there) the shape says
    ``VARIANT`` and no longer tells, so that counts as a possible double.

    Examples
    --------
    >>> has_doubles("OBJECT<value: DECIMAL(3,2)>"), has_doubles("OBJECT<value: DOUBLE>")
    (False, True)
    >>> has_doubles("OBJECT<value: VARIANT>")
    True
    """
    return VARIANT_DOUBLE in shape or _MIXED in shape


def _parse_shape(shape: str) -> DataType | None:
    """Parse a ``schema_of_variant`` string as a Spark type (None when Spark's DDL cannot hold it)."""
    from pyspark.sql.types import DataType

    try:
        return DataType.fromDDL(shape.replace(_OBJECT, _STRUCT))
    except Exception:  # keys that are no DDL identifiers: parse with the full schema
        LOGGER.info("A resource shape is no valid DDL; the full schema is used")
        return None


def _prune_type(data_type: DataType, shape: DataType) -> DataType | None:
    from pyspark.sql.types import ArrayType, StructType

    if isinstance(data_type, StructType) and isinstance(shape, StructType):
        return _prune_struct(data_type, shape)
    if isinstance(data_type, ArrayType) and isinstance(shape, ArrayType):
        element = _prune_type(data_type.elementType, shape.elementType)
        return None if element is None else ArrayType(element, data_type.containsNull)
    return data_type  # a leaf, or data of another kind: the full field (parsing reports it)


def _prune_struct(schema: StructType, shape: StructType) -> StructType | None:
    from pyspark.sql.types import StructField, StructType

    present = {field.name: field.dataType for field in shape.fields}
    fields = []
    for field in schema.fields:
        if field.name not in present:
            continue
        if field.metadata.get(JSON_TEXT_KEY):
            fields.append(field)
            continue
        pruned = _prune_type(field.dataType, present[field.name])
        if pruned is not None:
            fields.append(StructField(field.name, pruned, field.nullable, field.metadata))
    return StructType(fields) if fields else None


def prune_schema(schema: StructType, shape: str | None) -> StructType:
    """Keep the fields of ``schema`` that the data of ``shape`` uses, at every level.

    JSON-text fields are kept whole; a field whose data has another kind than the schema's (an
    object where a string belongs) is kept whole, so that parsing reports it. Without a shape, or
    with one Spark's DDL cannot read, the schema is returned unchanged.

    Parameters
    ----------
    schema
        A committed schema (:func:`medlake.fhir.schema.load_schema`).
    shape
        The data's shape from :func:`resource_shapes`.

    Returns
    -------
    StructType
        The pruned schema (at least ``resourceType`` when the data has it).

    Examples
    --------
    >>> from medlake.fhir.schema import load_schema
    >>> shape = "OBJECT<id: STRING, name: ARRAY<OBJECT<family: STRING>>, resourceType: STRING>"
    >>> prune_schema(load_schema("Patient"), shape).simpleString()  # doctest: +SKIP
    'struct<resourceType:string,id:string,name:array<struct<family:string>>>'
    """
    parsed = _parse_shape(shape) if shape else None
    if parsed is None:
        return schema
    from pyspark.sql.types import StructType

    pruned = _prune_type(schema, parsed)
    return pruned if isinstance(pruned, StructType) else schema
