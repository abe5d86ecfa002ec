"""The shape of a batch of resources: which columns it uses, and whether it parses without loss.

A type's committed schema is wide (Observation has 1 650 leaves), while a batch of resources fills
a few dozen of them. Parsing and writing the full width costs most of an ingest: Spark compiles
and evaluates every field of the schema for every row, and the Parquet writer keeps a column chunk
per leaf. Delta reads the columns a data file lacks as null, so a file needs only the columns its
rows use.

:func:`resource_shapes` asks Spark, in one aggregation over all records, for the shape of each
type's JSON, overall and per input file (``schema_of_variant_agg``: every object key and the kind
of every value seen). :func:`prune_schema` keeps the committed fields that appear in a shape;
parsing with it gives the same values as parsing with the full schema.

:func:`proves_lossless` decides from a shape alone whether every record of it parses exactly: every
key is a field of the schema, and every value has the field's kind, so Spark's JSON reader either
reads it exactly or fails the record visibly (``parse_error``). A decimal with more than 19
fraction digits, a number with an exponent or beyond 38 digits (a variant holds it as a double),
an element the schema lacks, a string where a number belongs or a number where a string belongs
(Spark's reader would turn it into text) all leave a shape unproven, and the records of that
file are then compared one by one (:mod:`medlake.fhir.roundtrip`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from medlake.fhir.schema import JSON_TEXT_KEY

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType, StructType

__all__ = ["Shapes", "prune_schema", "proves_lossless", "resource_shapes"]

LOGGER = logging.getLogger(__name__)

#: How ``schema_of_variant`` names a JSON object; Spark's DDL calls it a struct.
_OBJECT, _STRUCT = "OBJECT<", "STRUCT<"
#: Kinds a shape may hold that no typed column keeps exactly: a double (a number with an exponent
#: or beyond 38 digits) and a value whose records disagree on its kind.
_INEXACT = ("DOUBLE", "VARIANT")


@dataclass(frozen=True)
class Shapes:
    """The shape of one type's records: over all of them, and per input file; and their number."""

    overall: str | None
    by_file: dict[str, str | None]
    records: int


def resource_shapes(
    records: DataFrame, type_column: Column, json_column: Column, file_column: Column
) -> dict[str, Shapes]:
    """Return the ``schema_of_variant_agg`` shape of each type's JSON, in one Spark job.

    Parameters
    ----------
    records
        Rows with a resource type, the resource's JSON text and its input file.
    type_column, json_column, file_column
        The resource type, the JSON text and the input file.

    Returns
    -------
    dict[str, Shapes]
        Per type present, e.g. ``OBJECT<id: STRING, valueQuantity: OBJECT<value: DECIMAL(3,2)>>``
        overall and per file (None where no record is valid JSON), and the type's record count.
    """
    from pyspark.sql import functions as F

    rows = (
        records.select(type_column.alias("type"), file_column.alias("file"),
                       F.try_parse_json(json_column).alias("json"))
        .rollup("type", "file")
        .agg(F.schema_of_variant_agg("json").alias("shape"), F.grouping("file").alias("all_files"),
             F.count(F.lit(1)).alias("records"))
        .where(F.col("type").isNotNull())
        .collect()
    )
    shapes = {row["type"]: Shapes(row["shape"], {}, row["records"]) for row in rows if row["all_files"]}
    for row in rows:
        if not row["all_files"]:
            shapes[row["type"]].by_file[row["file"]] = row["shape"]
    return shapes


def _parse_shape(shape: str) -> DataType | None:
    """Parse a ``schema_of_variant`` string as a Spark type (None when Spark's DDL cannot hold it)."""
    from pyspark.sql.types import DataType

    try:
        return DataType.fromDDL(shape.replace(_OBJECT, _STRUCT))
    except Exception:  # keys that are no DDL identifiers: parse with the full schema
        LOGGER.info("A resource shape is no valid DDL; the full schema is used")
        return None


def _prune_type(data_type: DataType, shape: DataType) -> DataType:
    from pyspark.sql.types import ArrayType, StructType

    if isinstance(data_type, StructType) and isinstance(shape, StructType):
        return _prune_struct(data_type, shape) or data_type
    if isinstance(data_type, ArrayType) and isinstance(shape, ArrayType):
        return ArrayType(_prune_type(data_type.elementType, shape.elementType), data_type.containsNull)
    return data_type  # a leaf, or data of another kind: the full field (parsing reports it)


def _prune_struct(schema: StructType, shape: StructType) -> StructType | None:
    from pyspark.sql.types import StructField, StructType

    present = {field.name: field.dataType for field in shape.fields}
    fields = [
        field if field.metadata.get(JSON_TEXT_KEY)
        else StructField(field.name, _prune_type(field.dataType, present[field.name]), field.nullable,
                         field.metadata)
        for field in schema.fields if field.name in present
    ]
    return StructType(fields) if fields else None  # an empty object keeps its full field


def prune_schema(schema: StructType, shape: str | None) -> StructType:
    """Keep the fields of ``schema`` that the data of ``shape`` uses, at every level.

    JSON-text fields are kept whole; a field whose data has another kind than the schema's (an
    object where a string belongs), or only keys the schema lacks, is kept whole, so that parsing
    gives what the full schema gives. Without a shape, or with one Spark's DDL cannot read, the
    schema is returned unchanged.

    Parameters
    ----------
    schema
        A committed schema (:func:`medlake.fhir.schema.load_schema`).
    shape
        The data's shape from :func:`resource_shapes`.

    Returns
    -------
    StructType
        The pruned schema.

    Examples
    --------
    >>> from medlake.fhir.schema import load_schema
    >>> shape = "OBJECT<id: STRING, name: ARRAY<OBJECT<family: STRING>>, resourceType: STRING>"
    >>> prune_schema(load_schema("Patient"), shape).simpleString()  # doctest: +SKIP
    'struct<resourceType:string,id:string,name:array<struct<family:string>>>'
    """
    from pyspark.sql.types import StructType

    parsed = _parse_shape(shape) if shape else None
    pruned = _prune_type(schema, parsed) if parsed is not None else schema
    return pruned if isinstance(pruned, StructType) else schema


def _fits(data_type: DataType, shape: DataType) -> bool:
    """Whether values of kind ``shape`` parse into ``data_type`` exactly or fail visibly."""
    from pyspark.sql.types import ArrayType, DecimalType, LongType, NullType, StructType

    if isinstance(shape, NullType):  # null members: Spark omits them, as the comparison does
        return True
    if isinstance(data_type, StructType):
        fields = {field.name: field for field in data_type.fields}
        return isinstance(shape, StructType) and all(
            item.name in fields
            and (bool(fields[item.name].metadata.get(JSON_TEXT_KEY))
                 or _fits(fields[item.name].dataType, item.dataType))
            for item in shape.fields)
    if isinstance(data_type, ArrayType):
        return isinstance(shape, ArrayType) and _fits(data_type.elementType, shape.elementType)
    if isinstance(data_type, DecimalType):  # more integer digits than the type holds fail the record
        return isinstance(shape, LongType) or (
            isinstance(shape, DecimalType) and shape.scale <= data_type.scale)
    # Strings, booleans and integers: the same kind only (an integer beyond 32 bits fails the
    # record; an empty string where a number belongs would become null, a number where a string
    # belongs its text).
    return _kind(data_type) == _kind(shape)


def _kind(data_type: DataType) -> str:
    from pyspark.sql.types import IntegerType, LongType

    return "integer" if isinstance(data_type, (IntegerType, LongType)) else data_type.typeName()


def proves_lossless(schema: StructType, shape: str | None) -> bool:
    """Whether every record of ``shape`` parses into ``schema`` exactly, or fails visibly.

    Parameters
    ----------
    schema
        The schema the records are parsed with (committed, or pruned to a shape that includes
        this one).
    shape
        The records' shape from :func:`resource_shapes`.

    Returns
    -------
    bool
        True when no record of the shape can lose a value unnoticed; False when the records must
        be compared one by one.

    Examples
    --------
    >>> from medlake.fhir.schema import load_schema
    >>> proves_lossless(load_schema("Observation"), "OBJECT<value: DOUBLE>")
    False
    >>> proves_lossless(load_schema("Observation"),
    ...                 "OBJECT<valueQuantity: OBJECT<value: DECIMAL(3,2)>>")  # doctest: +SKIP
    True
    """
    if shape is None or any(kind in shape for kind in _INEXACT):
        return False
    parsed = _parse_shape(shape)
    return parsed is not None and _fits(schema, parsed)
