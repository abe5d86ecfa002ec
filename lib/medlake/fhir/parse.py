"""Parse FHIR JSON text into the typed columns of the generated schema, on the JVM.

:func:`parse_resources` runs Spark's ``from_json`` with the committed schema of one resource type,
with two changes that keep it exact:

* JSON-text fields (``extension``, ``contained``, recursion cuts) are parsed as ``VARIANT`` and
  then cast to their text. Parsed straight into a string field, Spark re-serialises the nested
  object through doubles (``0.1234567890123456789`` becomes ``0.12345678901234568``); a variant
  keeps decimals of up to 38 digits exactly (its text drops trailing zeros only: ``1.50`` →
  ``1.5``, equal by value). Numbers beyond 38 digits become doubles there too, which the
  round-trip check (:mod:`medlake.fhir.roundtrip`) then reports.
* A record the reader cannot fit is never a silent null: the corrupt-record column is requested,
  and each failed row gets a reason in ``error_column``. Spark's JSON reader (Jackson) refuses
  strings longer than ``maxStringLen`` (Jackson's default 20 000 000 characters), e.g. a large
  base64 ``Attachment.data``; such a record is flagged ``value_too_large``, and the limit can be
  raised with ``max_string_length``.

Rows with a non-null ``error_column`` hold partial values and must not be loaded.

Cost: the cast from the variant struct to the text struct is compiled by Spark's code generator
once per query and partition; for the widest type (StructureDefinition, 18 827 leaves) that
compilation takes tens of seconds, for Patient or Observation a few. It is paid once per task,
not per row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medlake.expressions import with_column_evaluated_once
from medlake.fhir.schema import COMMENT_KEY, JSON_TEXT_KEY, load_schema
from medlake.quarantine import QuarantineReason

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

__all__ = [
    "DEFAULT_MAX_STRING_LENGTH",
    "PARSE_ERROR_COLUMN",
    "RESOURCE_COLUMN",
    "parse_resources",
    "variant_schema",
]

#: Longest JSON string value the reader accepts by default (Jackson's ``maxStringLength``).
DEFAULT_MAX_STRING_LENGTH = 20_000_000
#: Default name of the typed struct column :func:`parse_resources` adds.
RESOURCE_COLUMN = "resource"
#: Default name of the reason column :func:`parse_resources` adds (``None`` when parsed).
PARSE_ERROR_COLUMN = "parse_error"
_CORRUPT_FIELD = "_medlake_corrupt_record"
_PARSED_COLUMN = "_medlake_parsed"
#: How ``schema_of_variant`` names a JSON object.
_OBJECT = "OBJECT"


def _with_variants(data_type: DataType) -> DataType:
    from pyspark.sql.types import ArrayType, StructType

    if isinstance(data_type, ArrayType):
        return ArrayType(_with_variants(data_type.elementType), data_type.containsNull)
    if isinstance(data_type, StructType):
        return variant_schema(data_type)
    return data_type


def _variant_of(data_type: DataType) -> DataType:
    from pyspark.sql.types import ArrayType, VariantType

    if isinstance(data_type, ArrayType):
        return ArrayType(VariantType(), data_type.containsNull)
    return VariantType()


def variant_schema(schema: StructType) -> StructType:
    """Return ``schema`` with every JSON-text field (or array element) typed ``VARIANT``.

    Field metadata is kept; :func:`parse_resources` drops the comments before parsing.

    Examples
    --------
    >>> variant_schema(load_schema("Patient"))["extension"].dataType.simpleString()
    'array<variant>'
    """
    from pyspark.sql.types import StructField, StructType

    return StructType([
        StructField(
            field.name,
            _variant_of(field.dataType) if field.metadata.get(JSON_TEXT_KEY)
            else _with_variants(field.dataType),
            field.nullable,
            field.metadata,
        )
        for field in schema.fields
    ])


def _strip_comments(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip_comments(item) for key, item in value.items() if key != COMMENT_KEY}
    if isinstance(value, list):
        return [_strip_comments(item) for item in value]
    return value


def _without_comments(schema: StructType) -> StructType:
    from pyspark.sql.types import StructType

    return StructType.fromJson(_strip_comments(schema.jsonValue()))


def parse_resources(
    df: DataFrame,
    resource_type: str,
    json_column: str,
    *,
    output_column: str = RESOURCE_COLUMN,
    error_column: str = PARSE_ERROR_COLUMN,
    max_string_length: int = DEFAULT_MAX_STRING_LENGTH,
    schema: StructType | None = None,
) -> DataFrame:
    """Add the typed struct of each resource's JSON text and the reason it failed, if it did.

    Parameters
    ----------
    df
        Any DataFrame with a string column of FHIR resource JSON.
    resource_type
        The resource type all rows should have, e.g. ``Patient``.
    json_column
        Name of the column of JSON text.
    output_column
        Name of the added struct column, typed by :func:`medlake.fhir.schema.load_schema`.
    error_column
        Name of the added reason column: ``None`` for a parsed row, else a
        :class:`~medlake.quarantine.QuarantineReason` value: ``invalid_json`` (no valid JSON),
        ``value_too_large`` (a string beyond ``max_string_length``), ``not_a_resource`` (JSON
        other than an object, or no ``resourceType``), ``schema_roundtrip_mismatch`` (values that
        do not fit the schema's types, e.g. an integer beyond 32 bits) or
        ``unknown_resource_type`` (``resourceType`` is not ``resource_type``).
    max_string_length
        Longest string value the JSON reader accepts (its ``maxStringLen`` option).
    schema
        The schema to parse with, e.g. the committed one pruned to the data
        (:func:`medlake.fhir.shape.prune_schema`); default: the committed schema.

    Returns
    -------
    DataFrame
        ``df`` with ``output_column`` and ``error_column`` added. The struct keeps the
        ``fhir_json_text`` marks but not the comments; tables take their column comments from
        :func:`~medlake.fhir.schema.load_schema`.

    Raises
    ------
    ValueError
        If ``resource_type`` is not a concrete resource type.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    # Without the comments: the plan (and each task) is half the size for the widest types.
    committed = load_schema(resource_type)  # also checks the type
    schema = _without_comments(committed if schema is None else schema)
    parse_schema = StructType(
        [*variant_schema(schema).fields, StructField(_CORRUPT_FIELD, StringType())]
    )
    options = {
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": _CORRUPT_FIELD,
        "maxStringLen": str(max_string_length),
    }
    text = F.col(json_column)
    parsed = F.col(_PARSED_COLUMN)
    corrupt = parsed.getField(_CORRUPT_FIELD).isNotNull()
    resource_type_column = parsed.getField("resourceType")
    typed = parsed.dropFields(_CORRUPT_FIELD).cast(schema)
    error = (
        F.when(parsed.isNull(), QuarantineReason.INVALID_JSON.value)
        .when(corrupt & (F.length(text) > max_string_length),
              QuarantineReason.VALUE_TOO_LARGE.value)
        .when(corrupt & F.try_parse_json(text).isNull(), QuarantineReason.INVALID_JSON.value)
        .when(corrupt & ~F.schema_of_variant(F.try_parse_json(text)).startswith(_OBJECT),
              QuarantineReason.NOT_A_RESOURCE.value)
        .when(corrupt, QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH.value)
        .when(resource_type_column.isNull(), QuarantineReason.NOT_A_RESOURCE.value)
        .when(resource_type_column != resource_type, QuarantineReason.UNKNOWN_RESOURCE_TYPE.value)
    )
    return (
        with_column_evaluated_once(df, _PARSED_COLUMN, F.from_json(text, parse_schema, options))
        .withColumn(output_column, typed)
        .withColumn(error_column, error)
        .drop(_PARSED_COLUMN)
    )
