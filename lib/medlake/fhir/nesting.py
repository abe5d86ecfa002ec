"""How deeply a JSON text nests, to tell a record nested beyond the parsers' limits from broken JSON.

Spark's JSON reader (Jackson) rejects documents nested deeper than :data:`MAX_NESTING_DEPTH` levels,
and Python's ``json`` raises ``RecursionError`` somewhat deeper. Such a record is valid JSON that no
schema of FHIR's could hold; it is quarantined as ``nesting_too_deep`` rather than ``invalid_json``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pandas as pd

from medlake.quarantine import QuarantineReason

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["MAX_NESTING_DEPTH", "nesting_depth", "with_nesting_reason"]

#: Jackson's default ``StreamReadConstraints.maxNestingDepth``, the limit of Spark's JSON reader.
MAX_NESTING_DEPTH = 1000
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """Return the deepest nesting of arrays and objects in ``text`` (brackets inside strings ignored).

    Examples
    --------
    >>> nesting_depth('{"a": [1, {"b": "]]]"}]}')
    3
    >>> nesting_depth("[" * 5000)
    5000
    """
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _too_deep(texts: pd.Series) -> pd.Series:
    """The pandas UDF of :func:`with_nesting_reason` (pandas_udf reads these annotations)."""
    return pd.Series([text is not None and nesting_depth(text) > MAX_NESTING_DEPTH for text in texts])


def with_nesting_reason(rows: "DataFrame") -> "DataFrame":
    """Turn ``invalid_json`` quarantine rows whose text nests too deeply into ``nesting_too_deep``.

    Only the texts of ``invalid_json`` rows are sent to Python.
    """
    from pyspark.sql import functions as F

    too_deep = F.pandas_udf(_too_deep, "boolean")  # type: ignore[call-overload]
    invalid = F.col("reason") == QuarantineReason.INVALID_JSON.value
    deep = too_deep(F.when(invalid, F.col("raw_text")))
    return rows.withColumns({
        "reason": F.when(invalid & deep, F.lit(QuarantineReason.NESTING_TOO_DEEP.value)).otherwise(F.col("reason")),
        "detail": F.when(invalid & deep, F.lit(
            f"The record nests arrays or objects deeper than {MAX_NESTING_DEPTH} levels, "
            "beyond what the JSON readers accept")).otherwise(F.col("detail")),
    })
