"""Spark column helpers that the optimiser would otherwise undo."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["with_column_evaluated_once"]


def with_column_evaluated_once(df: "DataFrame", name: str, column: "Column") -> "DataFrame":
    """Add ``column`` as ``name``, computed once per row however many expressions read its fields.

    Spark's optimiser inlines a projected expression into every later expression that reads it
    (``CollapseProject``). For ``from_json`` each field read then parses the whole text again:
    writing 78 000 Observations flattened from a ``from_json`` struct took 24 s of parsing
    instead of 5 s. A generator is a barrier the optimiser does not inline through, so the column
    is produced by ``inline`` over a one-element array.

    Examples
    --------
    >>> parsed = with_column_evaluated_once(df, "r", F.from_json("text", schema))  # doctest: +SKIP
    >>> parsed.select("r.*")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    return df.select("*", F.inline(F.array(F.struct(column.alias(name)))))
