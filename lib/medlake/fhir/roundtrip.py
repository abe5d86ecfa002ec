"""The lossless proof: the typed row, written back as JSON, must equal the original resource.

:func:`first_difference` is the pure core (no PySpark): it compares the original JSON text with
the typed row's JSON (``to_json`` of the parsed struct) by exact value and returns the FHIR path of
the first difference, e.g. ``Patient.name.given``:

* numbers compare as :class:`decimal.Decimal`, so ``1.50`` equals ``1.5000000000000000000`` (Spark
  writes decimals at full scale) but ``0.1234567890123456789`` differs from a rounded double;
* JSON-text fields (``extension``, ``contained``, recursion cuts, see
  :func:`medlake.fhir.schema.json_text_paths`) are parsed and compared as JSON by the same rules;
* key order is irrelevant, ``_x`` siblings compare like any other key, and a member whose value is
  ``null`` counts as absent (Spark cannot keep it); ``null`` inside arrays (the alignment of
  ``given`` with ``_given``) must match position by position;
* booleans, strings and numbers never equal one another (``true`` is not ``1``).

:func:`find_roundtrip_mismatches` runs it on executors in Arrow batches (a pandas UDF), on every
row or only where a condition holds: the ingest proves whole files lossless from their shape
(:func:`medlake.fhir.shape.proves_lossless`) and compares record by record only in the others.
"""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["ROUNDTRIP_COLUMN", "first_difference", "find_roundtrip_mismatches"]

#: Default name of the column :func:`find_roundtrip_mismatches` adds.
ROUNDTRIP_COLUMN = "roundtrip_mismatch"

_Path = tuple[str, ...]


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def _present(value: dict[str, Any]) -> Iterator[str]:
    return (key for key, item in value.items() if item is not None)


def _json_text(value: Any) -> Any:
    """Parse a JSON-text field's value (a string or an array of them) back into JSON values."""
    if isinstance(value, list):
        return [None if item is None else _loads(item) for item in value]
    return _loads(value)


def _difference(
    original: Any, typed: Any, names: _Path, where: str, text_paths: frozenset[_Path]
) -> str | None:
    if text_paths and names in text_paths and typed is not None:
        try:
            typed = _json_text(typed)
        except (TypeError, ValueError):
            return where
        text_paths = frozenset()
    if isinstance(original, dict) and isinstance(typed, dict):
        keys = list(_present(original)) + [k for k in _present(typed) if original.get(k) is None]
        for key in keys:
            if original.get(key) is None or typed.get(key) is None:
                return f"{where}.{key}"
            found = _difference(original[key], typed[key], (*names, key), f"{where}.{key}",
                                text_paths)
            if found is not None:
                return found
        return None
    if isinstance(original, list) and isinstance(typed, list):
        if len(original) != len(typed):
            return where
        for original_item, typed_item in zip(original, typed):
            found = _difference(original_item, typed_item, names, where, text_paths)
            if found is not None:
                return found
        return None
    if type(original) is not type(typed) or original != typed:
        return where
    return None


def first_difference(
    original: str, typed: str | None, json_text_paths: frozenset[tuple[str, ...]], root: str
) -> str | None:
    """Return the path of the first difference between a resource and its typed row, or None.

    Parameters
    ----------
    original
        The resource's JSON text as received.
    typed
        The typed row as JSON (``to_json`` of the parsed struct, nulls omitted), or None.
    json_text_paths
        Field-name paths of the JSON-text fields, from :func:`medlake.fhir.schema.json_text_paths`.
    root
        The first path segment, normally the resource type.

    Returns
    -------
    str | None
        ``None`` when both are equal by value, otherwise the FHIR path (``Patient.name.given``;
        just ``root`` when the original is no JSON object or the typed row is missing).

    Examples
    --------
    >>> first_difference('{"valueDecimal": 1.50}', '{"valueDecimal": 1.5000}', frozenset(), "Obs")
    >>> first_difference('{"a": {"b": 1, "c": 2}}', '{"a": {"b": 1}}', frozenset(), "Obs")
    'Obs.a.c'
    >>> first_difference('{"extension": [{"url": "u", "valueDecimal": 0.10}]}',
    ...                  '{"extension": ["{\\\\"url\\\\":\\\\"u\\\\",\\\\"valueDecimal\\\\":0.1}"]}',
    ...                  frozenset({("extension",)}), "Patient")
    """
    try:
        original_value = _loads(original)
        typed_value = None if typed is None else _loads(typed)
    except ValueError:
        return root
    if not isinstance(original_value, dict) or not isinstance(typed_value, dict):
        return root
    return _difference(original_value, typed_value, (), root, json_text_paths)


def find_roundtrip_mismatches(
    df: "DataFrame",
    resource_type: str,
    json_column: str,
    resource_column: str,
    output_column: str = ROUNDTRIP_COLUMN,
    *,
    where: "Column | None" = None,
) -> "DataFrame":
    """Add the path of the first difference between each original and its typed row.

    The typed struct is written back with ``to_json`` (null fields omitted) on the JVM; the
    comparison (:func:`first_difference`) runs in a pandas UDF, in Arrow batches on the executors.

    Parameters
    ----------
    df
        Rows holding the original JSON text and the typed struct, e.g. from
        :func:`medlake.fhir.parse.parse_resources`.
    resource_type
        The resource type, used as the first segment of the reported paths.
    json_column
        Name of the column of original JSON text.
    resource_column
        Name of the typed struct column (its schema tells the JSON-text fields).
    output_column
        Name of the added column: ``None`` when the row is lossless, otherwise the path.
    where
        Compare only the rows where this condition holds (``None`` elsewhere); default: all.

    Returns
    -------
    DataFrame
        ``df`` with ``output_column`` added.

    Raises
    ------
    TypeError
        If ``resource_column`` is not a struct column.
    """
    import pandas as pd
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructType

    from medlake.fhir.schema import json_text_paths

    resource_struct = df.schema[resource_column].dataType
    if not isinstance(resource_struct, StructType):
        raise TypeError(
            f"Unable to write '{resource_column}' back to JSON as it is "
            f"{resource_struct.simpleString()}, not a struct"
        )
    paths = json_text_paths(resource_struct)

    # Annotations are evaluated here (no ``from __future__ import annotations`` in this module):
    # pandas_udf reads them to pick the Series-to-Series kind.
    @F.pandas_udf(StringType())  # type: ignore[call-overload]
    def compare(originals: pd.Series, typed_rows: pd.Series) -> pd.Series:
        return pd.Series(
            [
                None if original is None else first_difference(original, typed, paths, resource_type)
                for original, typed in zip(originals, typed_rows)
            ],
            dtype=object,
        )

    original, typed_json = F.col(json_column), F.to_json(F.col(resource_column), {"ignoreNullFields": "true"})
    if where is not None:  # CASE WHEN is lazy: the other rows reach Python as two nulls
        original, typed_json = F.when(where, original), F.when(where, typed_json)
    return df.withColumn(output_column, compare(original, typed_json))
