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

* a number in a ``decimal`` field with 19 or more integer digits (``1.000000000000000000E245``
  is valid FHIR: decimals have no range limit) does not fit Spark's ``decimal(38,19)``, whose
  reader leaves the field null: that is no difference when the typed row is otherwise equal; the
  number's exact text is returned by :func:`compare_resource` under its path
  (``valueQuantity.value``, ``component[1].valueQuantity.value``), to be kept beside the row.

:func:`find_roundtrip_mismatches` runs it on executors in Arrow batches (a pandas UDF), on every
row or only where a condition holds: the ingest proves whole files lossless from their shape
(:func:`medlake.fhir.shape.proves_lossless`) and compares record by record only in the others.
"""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["DECIMAL_TEXT_COLUMN", "ROUNDTRIP_COLUMN", "Comparison", "compare_resource", "first_difference",
           "find_roundtrip_mismatches"]

#: Default name of the column :func:`find_roundtrip_mismatches` adds.
ROUNDTRIP_COLUMN = "roundtrip_mismatch"
#: Name of the column of exact decimal texts the typed columns cannot hold (path → text).
DECIMAL_TEXT_COLUMN = "_decimal_text"
#: Integer digits of Spark's ``decimal(38,19)``, the type of FHIR ``decimal``.
_DECIMAL_INTEGER_DIGITS = 19
_COMPARED = "_medlake_compared"

_Path = tuple[str, ...]


class _Number(Decimal):
    """A JSON number as a :class:`~decimal.Decimal` that keeps its text as written."""

    text: str

    def __new__(cls, text: str) -> "_Number":
        number = super().__new__(cls, text)
        number.text = text
        return number


class Comparison(NamedTuple):
    """What :func:`compare_resource` found: the first difference, and the decimals kept as text."""

    difference: str | None
    decimal_text: dict[str, str]


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=_Number, parse_int=_Number)


def _beyond_decimal_range(value: Any) -> bool:
    return (isinstance(value, _Number) and value.is_finite() and value != 0
            and value.adjusted() >= _DECIMAL_INTEGER_DIGITS)


def _present(value: dict[str, Any]) -> Iterator[str]:
    return (key for key, item in value.items() if item is not None)


def _json_text(value: Any) -> Any:
    """Parse a JSON-text field's value (a string or an array of them) back into JSON values."""
    if isinstance(value, list):
        return [None if item is None else _loads(item) for item in value]
    return _loads(value)


class _Walk(NamedTuple):
    """What the comparison carries down: the JSON-text and decimal paths, and the decimals found."""

    text_paths: frozenset[_Path]
    decimal_paths: frozenset[_Path]
    decimal_text: dict[str, str]


def _difference(original: Any, typed: Any, names: _Path, where: str, location: str, walk: _Walk) -> str | None:
    if walk.text_paths and names in walk.text_paths and typed is not None:
        try:
            typed = _json_text(typed)
        except (TypeError, ValueError):
            return where
        walk = walk._replace(text_paths=frozenset(), decimal_paths=frozenset())
    if isinstance(original, dict) and isinstance(typed, dict):
        keys = list(_present(original)) + [k for k in _present(typed) if original.get(k) is None]
        for key in keys:
            inner = f"{location}.{key}" if location else key
            if (typed.get(key) is None and (*names, key) in walk.decimal_paths
                    and _beyond_decimal_range(original.get(key))):
                walk.decimal_text[inner] = original[key].text
                continue
            if original.get(key) is None or typed.get(key) is None:
                return f"{where}.{key}"
            found = _difference(original[key], typed[key], (*names, key), f"{where}.{key}", inner, walk)
            if found is not None:
                return found
        return None
    if isinstance(original, list) and isinstance(typed, list):
        if len(original) != len(typed):
            return where
        for index, (original_item, typed_item) in enumerate(zip(original, typed)):
            found = _difference(original_item, typed_item, names, where, f"{location}[{index}]", walk)
            if found is not None:
                return found
        return None
    if type(original) is not type(typed) or original != typed:
        return where
    return None


def compare_resource(
    original: str, typed: str | None, json_text_paths: frozenset[_Path], root: str,
    decimal_paths: frozenset[_Path] = frozenset(),
) -> Comparison:
    """Compare a resource with its typed row: the first difference and the decimals kept as text.

    Parameters are those of :func:`first_difference`, and ``decimal_paths``, the field-name
    paths of the ``decimal`` fields (:func:`medlake.fhir.schema.decimal_paths`): a number there
    beyond ``decimal(38,19)``'s range whose typed value is null is no difference; its text is
    returned under its path.

    Examples
    --------
    >>> compare_resource('{"valueQuantity": {"value": 1.0E245, "unit": "g"}}',
    ...                  '{"valueQuantity": {"unit": "g"}}', frozenset(), "Observation",
    ...                  frozenset({("valueQuantity", "value")}))
    Comparison(difference=None, decimal_text={'valueQuantity.value': '1.0E245'})
    >>> compare_resource('{"valueQuantity": {"value": 1.0E245}}', '{}', frozenset(), "Observation").difference
    'Observation.valueQuantity'
    """
    try:
        original_value = _loads(original)
        typed_value = None if typed is None else _loads(typed)
    except ValueError:
        return Comparison(root, {})
    if not isinstance(original_value, dict) or not isinstance(typed_value, dict):
        return Comparison(root, {})
    walk = _Walk(json_text_paths, decimal_paths, {})
    return Comparison(_difference(original_value, typed_value, (), root, "", walk), walk.decimal_text)


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
    return compare_resource(original, typed, json_text_paths, root).difference


def find_roundtrip_mismatches(
    df: "DataFrame",
    resource_type: str,
    json_column: str,
    resource_column: str,
    output_column: str = ROUNDTRIP_COLUMN,
    *,
    where: "Column | None" = None,
) -> "DataFrame":
    """Add the path of the first difference between each original and its typed row, and the
    decimals the typed row cannot hold (:data:`DECIMAL_TEXT_COLUMN`, ``map<string,string>``).

    The typed struct is written back with ``to_json`` (null fields omitted) on the JVM; the
    comparison (:func:`compare_resource`) runs in a pandas UDF, in Arrow batches on the executors.

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
        ``df`` with ``output_column`` and :data:`DECIMAL_TEXT_COLUMN` (null when there are none) added.

    Raises
    ------
    TypeError
        If ``resource_column`` is not a struct column.
    """
    import pandas as pd
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    from medlake.expressions import with_column_evaluated_once
    from medlake.fhir.schema import decimal_paths, json_text_paths

    resource_struct = df.schema[resource_column].dataType
    if not isinstance(resource_struct, StructType):
        raise TypeError(
            f"Unable to write '{resource_column}' back to JSON as it is "
            f"{resource_struct.simpleString()}, not a struct"
        )
    paths, decimals = json_text_paths(resource_struct), decimal_paths(resource_struct)

    # Annotations are evaluated here (no ``from __future__ import annotations`` in this module):
    # pandas_udf reads them to pick the Series-to-DataFrame kind.
    @F.pandas_udf("difference string, decimal_text string")  # type: ignore[call-overload]
    def compare(originals: pd.Series, typed_rows: pd.Series) -> pd.DataFrame:
        found = [Comparison(None, {}) if original is None
                 else compare_resource(original, typed, paths, resource_type, decimals)
                 for original, typed in zip(originals, typed_rows)]
        return pd.DataFrame({
            "difference": pd.Series([c.difference for c in found], dtype=object),
            "decimal_text": pd.Series([json.dumps(c.decimal_text) if c.decimal_text else None for c in found],
                                      dtype=object),
        })

    original, typed_json = F.col(json_column), F.to_json(F.col(resource_column), {"ignoreNullFields": "true"})
    if where is not None:  # CASE WHEN is lazy: the other rows reach Python as two nulls
        original, typed_json = F.when(where, original), F.when(where, typed_json)
    compared = F.col(_COMPARED)
    return with_column_evaluated_once(df, _COMPARED, compare(original, typed_json)).withColumns({
        output_column: compared["difference"],
        DECIMAL_TEXT_COLUMN: F.from_json(compared["decimal_text"], "map<string,string>"),
    }).drop(_COMPARED)
